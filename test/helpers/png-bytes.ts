// Hand-built PNG files for tests: any color type, bit depth and interlacing (pngjs writes only some), with image data
// as given, so tests can make truncated, oversized or bomb-like files.
import * as zlib from 'node:zlib';

export interface PngSpec {
  width: number;
  height: number;
  /** PNG color type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  color: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8 | 16;
  interlace?: 0 | 1;
}

const SAMPLES = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

export function pngChunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/** The uncompressed image data of a PNG: filter byte 0 and byte(i) for the i-th data byte of each row, per Adam7 pass when interlaced. */
export function pngScanlines(s: PngSpec, byte: (i: number) => number = (i) => (i * 29) & 255): Uint8Array {
  const rowBytes = (w: number) => Math.ceil((w * SAMPLES[s.color] * s.depth) / 8);
  const passes = s.interlace
    ? ADAM7.map(([x0, y0, dx, dy]) => [Math.ceil((s.width - x0) / dx), Math.ceil((s.height - y0) / dy)])
    : [[s.width, s.height]];
  const rows: number[] = [];
  let i = 0;
  for (const [w, h] of passes) {
    if (w <= 0 || h <= 0) continue;
    for (let y = 0; y < h; y++) {
      rows.push(0);
      for (let x = 0; x < rowBytes(w); x++) rows.push(byte(i++));
    }
  }
  return Uint8Array.from(rows);
}

/** A PNG file of spec whose IDAT holds `data` deflated (default: complete scanlines); palette images get a 256-entry PLTE. */
export function pngFile(s: PngSpec, data: Uint8Array = pngScanlines(s)): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.depth;
  ihdr[9] = s.color;
  ihdr[12] = s.interlace ?? 0;
  const plte =
    s.color === 3
      ? [
          pngChunk(
            'PLTE',
            Uint8Array.from({ length: 768 }, (_, i) => (i * 7) & 255),
          ),
        ]
      : [];
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...plte,
    pngChunk('IDAT', zlib.deflateSync(data)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}
