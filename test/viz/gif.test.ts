// Tests for GIF encoding, checked with a small GIF89a reader (blocks + LZW) written here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeGif, writeGif } from '../../src/node/gif.ts';

interface DecodedGif {
  width: number;
  height: number;
  loop: number | null;
  frames: { delayCs: number; rgb: number[] }[];
}

function lzwDecode(minCodeSize: number, data: Uint8Array, count: number): number[] {
  const clear = 1 << minCodeSize;
  const eoi = clear + 1;
  let codeSize = minCodeSize + 1;
  let dict: number[][] = [];
  const reset = () => {
    dict = Array.from({ length: eoi + 1 }, (_, i) => [i]);
    codeSize = minCodeSize + 1;
  };
  reset();
  const out: number[] = [];
  let prev: number[] | null = null;
  let bit = 0;
  while (bit + codeSize <= data.length * 8 && out.length < count) {
    let code = 0;
    for (let k = 0; k < codeSize; k++, bit++) code |= ((data[bit >> 3] >> (bit & 7)) & 1) << k;
    if (code === clear) {
      reset();
      prev = null;
      continue;
    }
    if (code === eoi) break;
    let entry: number[];
    if (code < dict.length) entry = dict[code];
    else if (code === dict.length && prev) entry = [...prev, prev[0]];
    else throw new Error(`bad LZW code ${code}`);
    out.push(...entry);
    if (prev) dict.push([...prev, entry[0]]);
    prev = entry;
    if (dict.length === 1 << codeSize && codeSize < 12) codeSize++;
  }
  return out;
}

function readGif(b: Uint8Array): DecodedGif {
  assert.equal(new TextDecoder().decode(b.subarray(0, 6)), 'GIF89a');
  const u16 = (p: number) => b[p] | (b[p + 1] << 8);
  const width = u16(6);
  const height = u16(8);
  let p = 13;
  const readTable = (flags: number) => {
    const n = 2 << (flags & 7);
    const t = b.subarray(p, p + 3 * n);
    p += 3 * n;
    return t;
  };
  const global = b[10] & 0x80 ? readTable(b[10]) : null;
  const subBlocks = () => {
    const parts: number[] = [];
    while (b[p] !== 0) {
      parts.push(...b.subarray(p + 1, p + 1 + b[p]));
      p += 1 + b[p];
    }
    p++;
    return new Uint8Array(parts);
  };
  const gif: DecodedGif = { width, height, loop: null, frames: [] };
  let delayCs = 0;
  for (;;) {
    const id = b[p++];
    if (id === 0x3b) break;
    if (id === 0x21) {
      const label = b[p++];
      const body = subBlocks();
      if (label === 0xf9) delayCs = body[1] | (body[2] << 8);
      if (label === 0xff && new TextDecoder().decode(body.subarray(0, 11)) === 'NETSCAPE2.0')
        gif.loop = body[12] | (body[13] << 8);
    } else if (id === 0x2c) {
      const w = u16(p + 4);
      const h = u16(p + 6);
      const flags = b[p + 8];
      p += 9;
      const table = flags & 0x80 ? readTable(flags) : global!;
      const minCode = b[p++];
      const indices = lzwDecode(minCode, subBlocks(), w * h);
      assert.equal(indices.length, w * h);
      gif.frames.push({ delayCs, rgb: indices.flatMap((i) => [table[3 * i], table[3 * i + 1], table[3 * i + 2]]) });
    } else {
      throw new Error(`unexpected GIF block 0x${id.toString(16)} at ${p - 1}`);
    }
  }
  return gif;
}

test('gray frames: GIF89a, right frame count, exact gray levels, delay and loop', () => {
  const frames = [0, 1, 2].map((f) => ({
    data: Uint8Array.from({ length: 12 * 10 }, (_, i) => (i * 7 + f * 50) % 256),
    height: 10,
    width: 12,
    channels: 1,
  }));
  const bytes = encodeGif(frames, { delayMs: 120 });
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 6)), 'GIF89a');
  const gif = readGif(bytes);
  assert.equal(gif.width, 12);
  assert.equal(gif.height, 10);
  assert.equal(gif.frames.length, 3);
  assert.equal(gif.loop, 0);
  for (const [f, frame] of gif.frames.entries()) {
    assert.equal(frame.delayCs, 12);
    assert.deepEqual(
      frame.rgb,
      Array.from(frames[f].data).flatMap((v) => [v, v, v]),
    );
  }
});

test('RGB frames with few colors are exact; loop false plays once', () => {
  const colors = [
    [255, 0, 0],
    [0, 128, 255],
    [17, 34, 51],
  ];
  const frames = [0, 1].map((f) => ({
    data: Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => colors[(Math.floor(i / 3) + f) % 3][i % 3]),
    height: 3,
    width: 4,
    channels: 3,
  }));
  const gif = readGif(encodeGif(frames, { loop: false }));
  assert.equal(gif.loop, null);
  assert.equal(gif.frames.length, 2);
  for (const [f, frame] of gif.frames.entries()) assert.deepEqual(frame.rgb, Array.from(frames[f].data));
  assert.equal(readGif(encodeGif(frames, { loop: 3 })).loop, 3);
});

test('RGBA frames with many colors are quantized close to the input', () => {
  for (const palette of ['global', 'per-frame'] as const) {
    const frames = [0, 1].map((f) => ({
      data: Uint8Array.from({ length: 32 * 32 * 4 }, (_, i) =>
        i % 4 === 3 ? 255 : ((i >> 2) * (3 + (i % 4)) + f * 9) % 256,
      ),
      height: 32,
      width: 32,
      channels: 4,
    }));
    const gif = readGif(encodeGif(frames, { palette }));
    assert.equal(gif.frames.length, 2);
    for (const [f, frame] of gif.frames.entries()) {
      let err = 0;
      for (let i = 0; i < 32 * 32; i++)
        for (let k = 0; k < 3; k++) err += Math.abs(frame.rgb[i * 3 + k] - frames[f].data[i * 4 + k]);
      assert.ok(err / (32 * 32 * 3) < 24, `${palette}: mean abs error ${err / (32 * 32 * 3)}`);
    }
  }
});

test('writeGif writes a file; mismatched frames are rejected', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-gif-'));
  const file = path.join(dir, 'walk.gif');
  const frame = { data: new Uint8Array(4), height: 2, width: 2, channels: 1 };
  writeGif(file, [frame, frame], { delayMs: 50 });
  assert.equal(readGif(fs.readFileSync(file)).frames.length, 2);
  assert.deepEqual(fs.readdirSync(dir), ['walk.gif']);
  assert.throws(
    () => encodeGif([frame, { ...frame, width: 1, data: new Uint8Array(2) }]),
    /frame 1 is 1x2x1, frame 0 is 2x2x1/,
  );
  assert.throws(() => encodeGif([]), /at least one frame/);
});
