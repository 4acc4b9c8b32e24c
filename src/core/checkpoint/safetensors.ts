// The safetensors file format (Hugging Face), encode and strictly validated decode, platform-free.
// Layout: u64 LE header length N | N bytes UTF-8 JSON header (space-padded to 8) | raw LE tensor bytes.

import { oneLine, UserError } from '../errors.ts';

export type Dtype =
  'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

/**
 * Element storage. Decoded data uses one fixed array type per dtype (see DTYPES); F16 and BF16 are raw
 * bit patterns in a Uint16Array (recordToFloat32 converts). encodeSafetensors also accepts a Uint8Array
 * of raw little-endian bytes for any dtype.
 */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface TensorRecord {
  dtype: Dtype;
  /** Row-major (C order) shape; [] is a scalar. */
  shape: number[];
  data: TensorData;
}

export interface SafetensorsContents {
  tensors: Record<string, TensorRecord>;
  metadata: Record<string, string>;
}

type ArrayCtor = {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): TensorData;
  BYTES_PER_ELEMENT: number;
  name: string;
};

/**
 * Byte size, decoded array type, and rank in the reference implementation's Dtype enum. The reference
 * writes tensors by descending rank then name, which is also descending alignment, so every tensor in
 * the data buffer is naturally aligned; copying that order makes our bytes identical to its output.
 */
const DTYPES: Record<Dtype, { size: number; array: ArrayCtor; rank: number }> = {
  BOOL: { size: 1, array: Uint8Array, rank: 0 },
  U8: { size: 1, array: Uint8Array, rank: 1 },
  I8: { size: 1, array: Int8Array, rank: 2 },
  I16: { size: 2, array: Int16Array, rank: 5 },
  U16: { size: 2, array: Uint16Array, rank: 6 },
  F16: { size: 2, array: Uint16Array, rank: 7 },
  BF16: { size: 2, array: Uint16Array, rank: 8 },
  I32: { size: 4, array: Int32Array, rank: 9 },
  U32: { size: 4, array: Uint32Array, rank: 10 },
  F32: { size: 4, array: Float32Array, rank: 11 },
  F64: { size: 8, array: Float64Array, rank: 12 },
  I64: { size: 8, array: BigInt64Array, rank: 13 },
  U64: { size: 8, array: BigUint64Array, rank: 14 },
};

export const SUPPORTED_DTYPES = Object.keys(DTYPES) as Dtype[];

/** Same limit as the reference reader: a larger header is treated as a corrupt or hostile file. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new Error('safetensors support needs a little-endian platform');
}

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

/** Number of elements of a shape; 1 for a scalar. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Sets a key without invoking the __proto__ setter, so a file cannot alter the result's prototype. */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A tensor shape: non-negative safe integers. */
export function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

// ---------------------------------------------------------------------------------------------
// Encode

/**
 * Serializes tensors to safetensors bytes. Tensors are ordered by descending dtype alignment, then
 * name (as the reference implementation does), metadata keys are sorted: equal input, equal bytes.
 * Bad arguments are programming errors and throw a plain Error.
 */
export function encodeSafetensors(
  tensors: Record<string, TensorRecord>,
  metadata?: Record<string, string>,
): Uint8Array {
  assertLittleEndian();
  const entries = Object.entries(tensors).map(([name, rec]) => ({ name, rec, bytes: recordBytes(name, rec) }));
  entries.sort(
    (a, b) => DTYPES[b.rec.dtype].rank - DTYPES[a.rec.dtype].rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );

  // Built by hand, not JSON.stringify(object): object key order would move integer-like names first.
  const parts: string[] = [];
  const metaKeys = metadata ? Object.keys(metadata).sort() : [];
  if (metadata && metaKeys.length > 0) {
    const kv = metaKeys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string')
        throw new Error(`safetensors metadata value for "${k}" must be a string, got ${typeof v}`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"${METADATA_KEY}":{${kv.join(',')}}`);
  }
  let offset = 0;
  for (const { name, rec, bytes } of entries) {
    const end = offset + bytes.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${rec.dtype}","shape":${shapeStr(rec.shape)},"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  if (headerLen > MAX_HEADER_BYTES)
    throw new Error(`safetensors header would be ${headerLen} bytes, over the ${MAX_HEADER_BYTES} byte limit`);

  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLen, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const { bytes } of entries) {
    out.set(bytes, pos);
    pos += bytes.byteLength;
  }
  return out;
}

/** Validates one record and returns a byte view of its data (no copy). */
function recordBytes(name: string, rec: TensorRecord): Uint8Array {
  if (name === METADATA_KEY) throw new Error(`"${METADATA_KEY}" is reserved and cannot be a tensor name`);
  if (!rec || !isDtype(rec.dtype))
    throw new Error(
      `tensor "${name}": unsupported dtype ${String(rec?.dtype)} (supported: ${SUPPORTED_DTYPES.join(', ')})`,
    );
  if (!isShape(rec.shape))
    throw new Error(`tensor "${name}": shape must be non-negative integers, got ${JSON.stringify(rec.shape)}`);
  const { size, array } = DTYPES[rec.dtype];
  const data = rec.data;
  if (!(data instanceof Uint8Array) && !(data instanceof array)) {
    throw new Error(
      `tensor "${name}": dtype ${rec.dtype} needs a ${array.name} (or raw bytes in a Uint8Array), got ${data?.constructor?.name}`,
    );
  }
  const want = numel(rec.shape) * size;
  if (data.byteLength !== want) {
    throw new Error(
      `tensor "${name}": shape ${shapeStr(rec.shape)} of ${rec.dtype} needs ${want} bytes, data has ${data.byteLength}`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// ---------------------------------------------------------------------------------------------
// Decode

/** The UserError for a malformed safetensors file: what is wrong, and the fix. */
function invalidSafetensors(source: string, problem: string): UserError {
  return new UserError(`${source} is not a valid safetensors file: ${problem}; re-save it or point to the right file`);
}

/**
 * The JSON header of safetensors bytes, checked (length within bounds and the bytes, UTF-8, a JSON object), and its
 * byte length n (the data section starts at 8 + n). Only the first 8 + n bytes are read, so a file's head is enough.
 */
export function safetensorsHeader(
  bytes: Uint8Array,
  source = 'safetensors file',
): { header: Record<string, unknown>; n: number } {
  const bad = (problem: string) => invalidSafetensors(source, problem);
  if (bytes.byteLength < 8) throw bad(`it is ${bytes.byteLength} bytes long, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  if (hi !== 0 || lo > MAX_HEADER_BYTES) {
    throw bad(`header length ${hi * 2 ** 32 + lo} is over the ${MAX_HEADER_BYTES} byte limit (corrupt file?)`);
  }
  const n = lo;
  if (8 + n > bytes.byteLength)
    throw bad(`header length ${n} runs past the end of the ${bytes.byteLength}-byte file (truncated?)`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw bad('the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw bad(`the header is not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw bad('the header is not a JSON object');
  return { header: header as Record<string, unknown>, n };
}

/**
 * Parses and validates safetensors bytes. Every problem is a UserError naming `source`. Returned data
 * arrays are fresh copies (own, aligned buffers), so they never alias the input.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors file'): SafetensorsContents {
  assertLittleEndian();
  const bad = (problem: string) => invalidSafetensors(source, problem);
  const { header, n } = safetensorsHeader(bytes, source);

  const metadata: Record<string, string> = {};
  const infos: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (info === null || typeof info !== 'object' || Array.isArray(info))
        throw bad(`"${METADATA_KEY}" is not an object`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string')
          throw bad(`metadata value ${JSON.stringify(k)} is ${JSON.stringify(v)}, not a string`);
        setOwn(metadata, k, v);
      }
      continue;
    }
    const t = `tensor ${JSON.stringify(name)}`;
    if (info === null || typeof info !== 'object' || Array.isArray(info))
      throw bad(`${t} has no {dtype, shape, data_offsets} entry`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (!isDtype(dtype))
      throw bad(`${t} has unknown dtype ${JSON.stringify(dtype)} (supported: ${SUPPORTED_DTYPES.join(', ')})`);
    if (!isShape(shape)) throw bad(`${t} has shape ${JSON.stringify(shape)}; dimensions must be non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`${t} has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw bad(`${t} has data_offsets [${begin},${end}] that end before they begin`);
    const dataLen = bytes.byteLength - 8 - n;
    if (end > dataLen)
      throw bad(`${t} has data_offsets [${begin},${end}] beyond the ${dataLen}-byte data section (truncated?)`);
    const want = numel(shape) * DTYPES[dtype].size;
    if (end - begin !== want) {
      throw bad(`${t} has ${end - begin} bytes of data but shape ${shapeStr(shape)} of ${dtype} needs ${want}`);
    }
    infos.push({ name, dtype, shape, begin, end });
  }

  // The data section must be tiled exactly: sorted by offsets, each tensor starts where the last ended.
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const info of infos) {
    if (info.begin < pos)
      throw bad(
        `tensor ${JSON.stringify(info.name)} at bytes [${info.begin},${info.end}] overlaps the previous tensor, which ends at ${pos}`,
      );
    if (info.begin > pos)
      throw bad(`there is a gap in the data section: bytes [${pos},${info.begin}] belong to no tensor`);
    pos = info.end;
  }
  const dataLen = bytes.byteLength - 8 - n;
  if (pos !== dataLen)
    throw bad(
      `the tensors cover ${pos} bytes but the data section has ${dataLen}; bytes [${pos},${dataLen}] belong to no tensor`,
    );

  const tensors: Record<string, TensorRecord> = {};
  const base = 8 + n;
  for (const { name, dtype, shape, begin, end } of infos) {
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(base + begin, base + end));
    const { size, array } = DTYPES[dtype];
    setOwn(tensors, name, { dtype, shape, data: new array(copy.buffer, 0, copy.byteLength / size) });
  }
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------------------------
// Conversions

/** IEEE half-precision bits to a number. */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * A number as IEEE half-precision bits, rounded to nearest even as float32 -> float16 hardware does: beyond 65504
 * rounds to infinity, below 2^-25 to zero (subnormals in between), NaN stays NaN.
 */
export function numberToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half: x = full * 2^(exp-150) with full = 1.mant as a 24-bit integer, and frac = x / 2^-24 = full >> (14 - e)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is right (up to infinity)
  return sign | h;
}

/**
 * A float record stored as F16 (half the bytes; loading decodes it back to float32). Returns null when a value would
 * not survive: beyond the half range (|x| > 65504) or NaN, so the caller keeps that tensor in float32.
 */
export function recordToF16(rec: TensorRecord): TensorRecord | null {
  const src = recordToFloat32(rec);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (!(Math.abs(v) <= 65504)) return null;
    out[i] = numberToF16Bits(v);
  }
  return { dtype: 'F16', shape: [...rec.shape], data: out };
}

/** The elements of any numeric record as float32 (F16/BF16 decoded; 64-bit ints may lose precision). */
export function recordToFloat32(rec: TensorRecord): Float32Array {
  if (rec.dtype === 'F32' && rec.data instanceof Float32Array) return rec.data;
  const dtype = rec.dtype;
  const raw = typedData(rec);
  if (dtype === 'BF16') {
    const out = new Float32Array(raw.length);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < raw.length; i++) bits[i] = Number(raw[i]) << 16;
    return out;
  }
  if (dtype === 'F16') {
    const out = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = f16BitsToNumber(Number(raw[i]));
    return out;
  }
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = Number(raw[i]);
  return out;
}

/** The record's data as its dtype's array type (DTYPES), reinterpreting raw Uint8Array bytes. */
export function typedData(rec: TensorRecord): TensorData {
  const array = DTYPES[rec.dtype].array;
  return rec.data instanceof Uint8Array && array !== Uint8Array ? viewAs(rec.data, array) : rec.data;
}

/** Reinterprets raw little-endian bytes as `array`, copying when the offset is misaligned. */
function viewAs(bytes: Uint8Array, array: ArrayCtor): TensorData {
  const size = array.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % size === 0)
    return new array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size);
  const copy = new Uint8Array(bytes);
  return new array(copy.buffer, 0, copy.byteLength / size);
}
