// Tests for PNG encode/decode and atomic PNG writes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/core/errors.ts';
import { decodePng, encodePng, writePng } from '../../src/node/png.ts';

function ramp(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256);
}

test('gray, RGB and RGBA round trip exactly', () => {
  for (const channels of [1, 3, 4]) {
    const img = { data: ramp(5 * 7 * channels), height: 5, width: 7, channels };
    const bytes = encodePng(img);
    assert.deepEqual(Array.from(bytes.subarray(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);
    assert.deepEqual(decodePng(bytes), img);
  }
});

test('a gray image is stored as an 8-bit grayscale PNG', () => {
  const bytes = encodePng({ data: ramp(4), height: 2, width: 2, channels: 1 });
  // IHDR: bit depth at byte 24, color type at byte 25.
  assert.equal(bytes[24], 8);
  assert.equal(bytes[25], 0);
});

test('writePng writes atomically and the file decodes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-png-'));
  const file = path.join(dir, 'grid.png');
  const img = { data: ramp(3 * 2 * 3), height: 3, width: 2, channels: 3 };
  writePng(file, img);
  assert.deepEqual(fs.readdirSync(dir), ['grid.png']);
  assert.deepEqual(decodePng(fs.readFileSync(file)), img);
});

test('bad input: wrong sizes throw, a non-PNG is a UserError', () => {
  assert.throws(
    () => encodePng({ data: new Uint8Array(5), height: 2, width: 2, channels: 1 }),
    /5 bytes, expected 2x2x1/,
  );
  assert.throws(() => encodePng({ data: new Uint8Array(8), height: 2, width: 2, channels: 2 }), /1, 3 or 4 channels/);
  assert.throws(
    () => decodePng(new TextEncoder().encode('not a png'), 'input.png'),
    (e: unknown) => e instanceof UserError && /^input\.png is not a readable PNG/.test(e.message),
  );
});
