// Fuzzing the image-folder decoder: mutated PNG (every color type, 16-bit, interlaced) and JPEG files either decode
// to a consistent RGBA image within the pixel limit or fail as one-line UserErrors, within 192 MiB of extra peak memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { centerCropResize, decodeImageBytes } from '../../src/node/data/image-folder.ts';
import { fuzz, loadsOrUserError, mutatedBytes, peakRssMiB } from '../helpers/fuzz.ts';
import fc from 'fast-check';
import { pngFile, pngScanlines, type PngSpec } from '../helpers/png-bytes.ts';

const MEMORY_MIB = 192;
/** The fuzz's pixel limit: a mutated header may claim up to 1 megapixel and be decoded, not more. */
const MAX_PIXELS = 1 << 20;

const rgba = (w: number, h: number) => Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 53) & 255);

const pngs = [
  pngFile({ width: 7, height: 5, color: 0, depth: 8 }),
  pngFile({ width: 6, height: 3, color: 2, depth: 16 }),
  pngFile({ width: 9, height: 9, color: 6, depth: 8, interlace: 1 }),
  pngFile({ width: 5, height: 4, color: 3, depth: 4 }),
  pngFile({ width: 3, height: 11, color: 4, depth: 8, interlace: 1 }),
  pngFile({ width: 10, height: 2, color: 0, depth: 1 }),
];
const jpegs = [
  jpeg.encode({ width: 8, height: 8, data: rgba(8, 8) }, 90).data,
  jpeg.encode({ width: 17, height: 9, data: rgba(17, 9) }, 50).data,
];

function decodeChecked(bytes: Uint8Array, name: string): void {
  const describe = () => `${name} (${bytes.length} bytes): ${Buffer.from(bytes.subarray(0, 120)).toString('hex')}`;
  const img = loadsOrUserError(() => decodeImageBytes(Buffer.from(bytes), name, MAX_PIXELS), describe);
  if (!img) return;
  assert.ok(img.width >= 1 && img.height >= 1 && img.width * img.height <= MAX_PIXELS, describe());
  assert.equal(img.rgba.length, img.width * img.height * 4, describe());
  assert.equal(centerCropResize(img.rgba, img.height, img.width, 4, 8).length, 8 * 8 * 4);
}

// Mutated bytes mostly break a CRC, so structured PNGs (valid CRCs) reach the checks past the chunk layer: header fields
// from valid and invalid values, image data cut or padded. Oracle: a valid header within the limit loads exactly when
// the data has its length.
const VALID_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

test('fuzz: PNG files, mutated bytes and structured headers, decode or give one UserError line', () => {
  const before = peakRssMiB();
  for (const b of pngs) assert.ok(decodeImageBytes(b, 'seed.png', MAX_PIXELS).width > 0, 'the seeds are valid');
  fuzz(mutatedBytes(pngs), 4000, ({ bytes }) => decodeChecked(bytes, 'img.png'));
  const side = fc.oneof(
    fc.integer({ min: 1, max: 40 }),
    fc.constantFrom(0, 1024, 1025, 4096, 20000, 2 ** 31 - 1, 2 ** 32 - 1),
  );
  const spec = fc.record({
    width: side,
    height: side,
    color: fc.constantFrom(0, 2, 3, 4, 6, 1, 5, 7),
    depth: fc.constantFrom(1, 2, 4, 8, 16, 3, 0),
    interlace: fc.constantFrom(0, 1, 2),
  });
  const cut = fc.constantFrom<number | 'full' | 'long'>(0, 1, 7, 100, -1, -5, 'full', 'full', 'long');
  fuzz(fc.record({ spec, cut }), 3000, ({ spec: s, cut }) => {
    const valid =
      Boolean(VALID_DEPTHS[s.color]?.includes(s.depth)) && s.interlace <= 1 && s.width >= 1 && s.height >= 1;
    const small = s.width * s.height <= 4096; // only small images get real scanlines (the rest test the header checks)
    const full = valid && small ? pngScanlines(s as PngSpec) : new Uint8Array(64);
    const data =
      cut === 'full'
        ? full
        : cut === 'long'
          ? Uint8Array.from([...full, 0, 0])
          : cut >= 0
            ? full.subarray(0, Math.min(full.length, cut))
            : full.subarray(0, Math.max(0, full.length + cut));
    const bytes = pngFile(s as PngSpec, data);
    const img = loadsOrUserError(
      () => decodeImageBytes(bytes, 'img.png', MAX_PIXELS),
      () => `${JSON.stringify(s)} with ${data.length} of ${full.length} data bytes`,
    );
    const shouldLoad = valid && small && data.length === full.length;
    assert.equal(
      img !== undefined,
      shouldLoad,
      `${JSON.stringify(s)} with ${data.length} of ${full.length} data bytes ${img ? 'loaded' : 'failed'}`,
    );
  });
  assert.ok(peakRssMiB() - before < MEMORY_MIB, `peak memory grew by ${(peakRssMiB() - before).toFixed(0)} MiB`);
});

/** The JPEG with its frame header (SOF0) declaring width x height instead. */
function withJpegSize(b: Uint8Array, width: number, height: number): Uint8Array {
  const out = Uint8Array.from(b);
  for (let i = 2; i + 9 < out.length; i++) {
    if (out[i] === 0xff && out[i + 1] === 0xc0) {
      out.set([height >> 8, height & 255, width >> 8, width & 255], i + 5);
      return out;
    }
  }
  throw new Error('no SOF0 marker');
}

test('fuzz: JPEG files, mutated bytes and frame headers claiming other sizes, decode within the limit or give one UserError line', () => {
  const before = peakRssMiB();
  for (const b of jpegs)
    assert.ok(decodeImageBytes(Buffer.from(b), 'seed.jpg', MAX_PIXELS).width > 0, 'the seeds are valid');
  fuzz(mutatedBytes(jpegs), 3000, ({ bytes }) => decodeChecked(bytes, 'img.jpg'));
  const side = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(1024, 1025, 4096, 8192, 30000, 65535));
  fuzz(fc.record({ base: fc.nat({ max: jpegs.length - 1 }), w: side, h: side }), 300, ({ base, w, h }) => {
    const bytes = withJpegSize(jpegs[base], w, h);
    const img = loadsOrUserError(
      () => decodeImageBytes(Buffer.from(bytes), 'img.jpg', MAX_PIXELS),
      () => `JPEG claiming ${w}x${h}`,
    );
    if (w * h > MAX_PIXELS) assert.equal(img, undefined, `a ${w}x${h} JPEG loaded past the ${MAX_PIXELS}-pixel limit`);
  });
  assert.ok(peakRssMiB() - before < MEMORY_MIB, `peak memory grew by ${(peakRssMiB() - before).toFixed(0)} MiB`);
});
