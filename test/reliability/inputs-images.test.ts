// Decompression bombs and truncated images in folder: datasets (issue 19, item 6): the pixel count is read from the
// PNG IHDR / JPEG SOF header and checked against a limit (an option) before decoding; short PNG image data is an error.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { loadDataset } from '../../src/node/data/datasets.ts';
import { loadImageFolder } from '../../src/node/data/image-folder.ts';
import { decodePng } from '../../src/node/png.ts';
import { userError } from '../helpers/assert.ts';
import { peakRssMiB } from '../helpers/fuzz.ts';
import { pngFile, pngScanlines, type PngSpec } from '../helpers/png-bytes.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-images-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder holding the given files (name -> bytes). */
function folder(name: string, files: Record<string, Uint8Array>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), b);
  return dir;
}

/** The JPEG with its SOF0 frame header declaring width x height. */
function jpegClaiming(width: number, height: number): Uint8Array {
  const out = Uint8Array.from(jpeg.encode({ width: 8, height: 8, data: new Uint8Array(256).fill(90) }, 80).data);
  const i = out.findIndex((b, k) => b === 0xff && out[k + 1] === 0xc0);
  out.set([height >> 8, height & 255, width >> 8, width & 255], i + 5);
  return out;
}

test('a 20000x20000 PNG (a decompression bomb header) is refused from its header: fast, little memory, naming the limit and the option', () => {
  // the second case: the header with 100 bytes of image data used to load as a black image, through gigabytes
  const dir = folder('bomb', {
    'a.png': pngFile({ width: 20000, height: 20000, color: 0, depth: 8 }, new Uint8Array(100)),
  });
  const before = peakRssMiB();
  const t0 = performance.now();
  userError(
    () => loadImageFolder(dir, { size: 16, channels: 3 }),
    /^Cannot load .*bomb\/a\.png: it is 20000x20000 \(400\.0 megapixels\), over the limit of 33554432 pixels .*decompression bombs; shrink it, or raise the limit with --max-image-pixels N or DEEPGEN_MAX_IMAGE_PIXELS=N$/,
  );
  assert.ok(performance.now() - t0 < 1000, 'refused before decoding');
  assert.ok(peakRssMiB() - before < 64, `peak memory grew by ${(peakRssMiB() - before).toFixed(0)} MiB`);
});

test('a JPEG whose frame header claims 8000x8000 is refused before decoding', () => {
  const dir = folder('jpeg-bomb', { 'a.jpg': jpegClaiming(8000, 8000) });
  const before = peakRssMiB();
  userError(
    () => loadImageFolder(dir, { size: 16, channels: 3 }),
    /a\.jpg: it is 8000x8000 \(64\.0 megapixels\), over the limit/,
  );
  assert.ok(peakRssMiB() - before < 64, `peak memory grew by ${(peakRssMiB() - before).toFixed(0)} MiB`);
});

test('the pixel limit is an option: maxPixels / data.maxImagePixels, else $DEEPGEN_MAX_IMAGE_PIXELS', () => {
  const dir = folder('limit', {
    'a.png': pngFile({ width: 40, height: 30, color: 2, depth: 8 }),
    'b.jpg': jpeg.encode({ width: 30, height: 40, data: new Uint8Array(4800).fill(60) }, 80).data,
  });
  userError(
    () => loadImageFolder(dir, { size: 8, channels: 3, maxPixels: 1199 }),
    /a\.png: it is 40x30 .* over the limit of 1199 pixels/,
  );
  assert.equal(loadImageFolder(dir, { size: 8, channels: 3, maxPixels: 1200 }).n, 2);
  userError(
    () => loadDataset(`folder:${dir}`, { split: 'train', size: 8, maxImagePixels: 1000 }),
    /over the limit of 1000 pixels/,
  );
  const saved = process.env.DEEPGEN_MAX_IMAGE_PIXELS;
  try {
    process.env.DEEPGEN_MAX_IMAGE_PIXELS = '1000';
    userError(() => loadImageFolder(dir, { size: 8, channels: 3 }), /over the limit of 1000 pixels/);
    assert.equal(
      loadImageFolder(dir, { size: 8, channels: 3, maxPixels: 5000 }).n,
      2,
      'the option wins over the environment',
    );
    process.env.DEEPGEN_MAX_IMAGE_PIXELS = 'lots';
    userError(
      () => loadImageFolder(dir, { size: 8, channels: 3 }),
      /^DEEPGEN_MAX_IMAGE_PIXELS="lots" is not a positive integer/,
    );
  } finally {
    if (saved === undefined) delete process.env.DEEPGEN_MAX_IMAGE_PIXELS;
    else process.env.DEEPGEN_MAX_IMAGE_PIXELS = saved;
  }
});

test('truncated PNG image data is a one-line error naming the file; complete files of every layout still load', () => {
  const layouts: PngSpec[] = [
    { width: 64, height: 64, color: 2, depth: 8 },
    { width: 13, height: 7, color: 6, depth: 16, interlace: 1 },
    { width: 9, height: 5, color: 3, depth: 2 },
    { width: 3, height: 1, color: 4, depth: 8, interlace: 1 },
    { width: 17, height: 3, color: 0, depth: 1 },
  ];
  for (const [i, s] of layouts.entries()) {
    const full = pngScanlines(s);
    const dir = folder(`trunc-${i}`, { 'cut.png': pngFile(s, full.subarray(0, full.length - 1)) });
    userError(
      () => loadImageFolder(dir, { size: 4, channels: 3 }),
      new RegExp(
        `^Cannot decode .*trunc-${i}/cut\\.png: its image data is truncated: a ${s.width}x${s.height} image needs ${full.length} bytes, the file holds ${full.length - 1}; is it a valid PNG image\\?$`,
      ),
    );
    const extra = folder(`extra-${i}`, { 'long.png': pngFile(s, Uint8Array.from([...full, 0])) });
    userError(
      () => loadImageFolder(extra, { size: 4, channels: 3 }),
      new RegExp(
        `long\\.png: its image data is longer than a ${s.width}x${s.height} image needs \\(${full.length} bytes\\)`,
      ),
    );
    assert.equal(
      loadImageFolder(folder(`full-${i}`, { 'ok.png': pngFile(s, full) }), { size: 4, channels: 3 }).n,
      1,
      `${JSON.stringify(s)} loads`,
    );
  }
  // the case: a 64x64 header with 100 bytes of data used to load as a black image
  const dir = folder('black', { 'a.png': pngFile({ width: 64, height: 64, color: 2, depth: 8 }, new Uint8Array(100)) });
  userError(
    () => loadImageFolder(dir, { size: 16, channels: 3 }),
    /a\.png: its image data is truncated: a 64x64 image needs 12352 bytes, the file holds 100/,
  );
});

test('PNG chunk-level damage (a cut file, a bad IHDR, an undefined bit depth) is named, not the decoder internals', () => {
  const good = pngFile({ width: 8, height: 8, color: 2, depth: 8 });
  const cut = folder('cut-file', { 'a.png': good.subarray(0, good.length - 20) });
  userError(
    () => loadImageFolder(cut, { size: 4, channels: 3 }),
    /a\.png: the file is truncated \(it ends inside a chunk IDAT\)/,
  );
  const zero = folder('zero-size', {
    'a.png': pngFile({ width: 0, height: 4, color: 6, depth: 8 }, new Uint8Array(8)),
  });
  userError(() => loadImageFolder(zero, { size: 4, channels: 3 }), /a\.png: the header declares an invalid size 0x4/);
  const depth = folder('bad-depth', {
    'a.png': pngFile({ width: 4, height: 4, color: 6, depth: 2 }, new Uint8Array(24)),
  });
  userError(
    () => loadImageFolder(depth, { size: 4, channels: 3 }),
    /a\.png: the header declares color type 6 with bit depth 2, which PNG does not define/,
  );
});

test('decodePng (sample grids read back for GIFs) applies the same checks', () => {
  userError(
    () => decodePng(pngFile({ width: 20000, height: 20000, color: 0, depth: 8 }, new Uint8Array(100)), 'grid.png'),
    /grid\.png: it is 20000x20000/,
  );
  userError(
    () => decodePng(pngFile({ width: 8, height: 8, color: 0, depth: 8 }, new Uint8Array(10)), 'grid.png'),
    /grid\.png: its image data is truncated/,
  );
});
