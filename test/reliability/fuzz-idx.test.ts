// Fuzzing the idx reader (raw and gzip): mutated image and label files, and gzip files whose header and contents
// disagree, either load as a consistent dataset or fail as one-line UserErrors, within 128 MiB of extra peak memory.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { encodeIdx, loadIdxDataset } from '../../src/node/data/idx.ts';
import { applyEdits, fuzz, loadsOrUserError, peakRssMiB } from '../helpers/fuzz.ts';

const MEMORY_MIB = 128;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-fuzz-idx-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const images = encodeIdx(
  Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 37) & 255),
  [3, 4, 5],
);
const labels = encodeIdx(Uint8Array.of(1, 9, 0), [3]);

/** Writes the two train files into a fresh folder and loads it, checking what a successful load promises. */
function loadPair(imagesBytes: Uint8Array, labelsBytes: Uint8Array, gz: [boolean, boolean]): void {
  const dir = fs.mkdtempSync(path.join(tmp, 'case-'));
  fs.writeFileSync(path.join(dir, `train-images-idx3-ubyte${gz[0] ? '.gz' : ''}`), imagesBytes);
  fs.writeFileSync(path.join(dir, `train-labels-idx1-ubyte${gz[1] ? '.gz' : ''}`), labelsBytes);
  const describe = () =>
    `images ${Buffer.from(imagesBytes.subarray(0, 48)).toString('hex')} (${imagesBytes.length} bytes), labels ${Buffer.from(labelsBytes.subarray(0, 24)).toString('hex')}`;
  const ds = loadsOrUserError(() => loadIdxDataset(dir, 'train', { kind: 'mnist' }), describe);
  fs.rmSync(dir, { recursive: true, force: true });
  if (!ds) return;
  assert.ok(ds.n > 0 && ds.height > 0 && ds.width > 0, describe());
  assert.equal(ds.images.length, ds.n * ds.height * ds.width, describe());
  assert.equal(ds.labels!.length, ds.n, describe());
  assert.ok(
    ds.labels!.every((l) => l >= 0 && l < 10),
    describe(),
  );
}

const edits = fc.array(
  fc.record({
    at: fc.nat(),
    op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate', 'zero'),
    byte: fc.integer({ min: 0, max: 255 }),
    len: fc.integer({ min: 1, max: 64 }),
  }),
  { minLength: 1, maxLength: 4 },
) as fc.Arbitrary<Parameters<typeof applyEdits>[1]>;

// Gzip files whose idx header declares one size and whose contents hold another (up to 256 MiB of zeros in 256 KiB: a
// decompression bomb); the reader must stop at the declared size, so peak memory stays far below the contents.
const mib = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
const zeros = [
  Buffer.alloc(0),
  zlib.gzipSync(Buffer.alloc(1)),
  zlib.gzipSync(Buffer.alloc(1 << 10)),
  mib,
  Buffer.concat(new Array(256).fill(mib)),
];

function fuzzDisagreeing(): void {
  const dim = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(2 ** 16, 2 ** 31, 2 ** 32 - 1));
  const input = fc.record({ dims: fc.tuple(dim, dim, dim), body: fc.nat({ max: zeros.length - 1 }), labelCount: dim });
  fuzz(input, 150, ({ dims, body, labelCount }) => {
    const head = Buffer.alloc(16);
    head.writeUInt32BE(0x803, 0);
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    // gzip members concatenate: the header member, then the zeros member
    const imagesGz = Buffer.concat([zlib.gzipSync(head), zeros[body]]);
    const lab = Buffer.alloc(8 + Math.min(labelCount, 64));
    lab.writeUInt32BE(0x801, 0);
    lab.writeUInt32BE(labelCount, 4);
    loadPair(imagesGz, lab, [true, false]);
  });
}

test('fuzz: idx files, mutated (raw, gzip, gzip of mutated contents) and gzip whose header and contents disagree', () => {
  const before = peakRssMiB();
  fuzzDisagreeing();
  const input = fc.record({
    which: fc.constantFrom('images', 'labels', 'both'),
    form: fc.constantFrom('raw', 'gzip-of-mutated', 'mutated-gzip'),
    imgEdits: edits,
    labEdits: edits,
  });
  fuzz(input, 1500, ({ which, form, imgEdits, labEdits }) => {
    const mutate = (base: Uint8Array, e: typeof imgEdits, on: boolean): Uint8Array => {
      if (form === 'raw') return on ? applyEdits(base, e) : base;
      if (form === 'gzip-of-mutated') return zlib.gzipSync(on ? applyEdits(base, e) : base);
      return on ? applyEdits(zlib.gzipSync(base), e) : zlib.gzipSync(base);
    };
    const gz = form !== 'raw';
    loadPair(mutate(images, imgEdits, which !== 'labels'), mutate(labels, labEdits, which !== 'images'), [gz, gz]);
  });
  const grew = peakRssMiB() - before;
  assert.ok(
    grew < MEMORY_MIB,
    `peak memory grew by ${grew.toFixed(0)} MiB (gzip contents reach 256 MiB, headers declare up to 2^96 bytes)`,
  );
});
