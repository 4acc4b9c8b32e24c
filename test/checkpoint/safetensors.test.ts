// Tests for the safetensors codec: round trips, byte-exact layout, and every validation error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/core/errors.ts';
import {
  decodeSafetensors,
  encodeSafetensors,
  f16BitsToNumber,
  numberToF16Bits,
  recordToF16,
  recordToFloat32,
  type TensorRecord,
} from '../../src/core/checkpoint/safetensors.ts';

/** A file from a raw header string (padded to 8 like the writer) and data bytes. */
function fileFrom(header: string, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let json = new TextEncoder().encode(header);
  if (pad && json.length % 8) {
    const p = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeSafetensors(bytes, 'weights.safetensors'),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
      assert.match(e.message, /^weights\.safetensors /);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), 'message must be one line');
      return true;
    },
  );
}

test('round trip of F32, I32, U8, 0-d and empty tensors with metadata', () => {
  const tensors: Record<string, TensorRecord> = {
    'w.f32': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, 1e-8, -7]) },
    'w.i32': { dtype: 'I32', shape: [3], data: new Int32Array([-1, 2147483647, -2147483648]) },
    'w.u8': { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    odd: { dtype: 'U8', shape: [3], data: new Uint8Array([9, 8, 7]) },
  };
  const bytes = encodeSafetensors(tensors, { step: '12', format: 'deepgen' });
  const { tensors: back, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { format: 'deepgen', step: '12' });
  assert.deepEqual(Object.keys(back).sort(), Object.keys(tensors).sort());
  for (const [name, rec] of Object.entries(tensors)) {
    assert.equal(back[name].dtype, rec.dtype, name);
    assert.deepEqual(back[name].shape, rec.shape, name);
    assert.deepEqual(Array.from(back[name].data as ArrayLike<number>), Array.from(rec.data as ArrayLike<number>), name);
  }
  assert.ok(back['w.f32'].data instanceof Float32Array);
  assert.ok(back['w.i32'].data instanceof Int32Array);
  assert.ok(back['w.u8'].data instanceof Uint8Array);
  assert.deepEqual(back.scalar.shape, []);
});

test('other dtypes round trip with their natural array types', () => {
  const tensors: Record<string, TensorRecord> = {
    f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    i64: { dtype: 'I64', shape: [2], data: new BigInt64Array([-5n, 2n ** 62n]) },
    i8: { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    i16: { dtype: 'I16', shape: [1], data: new Int16Array([-300]) },
    u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
    f16: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3555]) },
    bf16: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc040]) },
    b: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
  };
  const back = decodeSafetensors(encodeSafetensors(tensors)).tensors;
  for (const [name, rec] of Object.entries(tensors)) {
    assert.equal(back[name].data.constructor, rec.data.constructor, name);
    assert.deepEqual(back[name].data, rec.data, name);
  }
  assert.deepEqual(Array.from(recordToFloat32(back.f16)), [1, -2, f16BitsToNumber(0x3555)]);
  assert.ok(Math.abs(recordToFloat32(back.f16)[2] - 1 / 3) < 1e-3);
  assert.deepEqual(Array.from(recordToFloat32(back.bf16)), [1, -3]);
  assert.deepEqual(Array.from(recordToFloat32(back.i64)), [-5, 2 ** 62]);
});

test('tensors are laid out by descending alignment then name, so every tensor is aligned', () => {
  const bytes = encodeSafetensors({
    b_u8: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
    a_u8: { dtype: 'U8', shape: [1], data: new Uint8Array([4]) },
    z_f64: { dtype: 'F64', shape: [1], data: new Float64Array([1]) },
    c_f32: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
    '10': { dtype: 'F32', shape: [1], data: new Float32Array([3]) },
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const header = JSON.parse(text);
  // Written order, read from the raw text (JSON.parse moves integer-like keys such as "10" first).
  const order = ['z_f64', '10', 'c_f32', 'a_u8', 'b_u8'].map((k) => text.indexOf(`"${k}"`));
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
  assert.deepEqual(header.z_f64.data_offsets, [0, 8]);
  assert.deepEqual(header['10'].data_offsets, [8, 12]);
  assert.deepEqual(header.c_f32.data_offsets, [12, 16]);
  assert.deepEqual(header.a_u8.data_offsets, [16, 17]);
  assert.deepEqual(header.b_u8.data_offsets, [17, 20]);
});

test('byte-exact output for hand-built files', () => {
  // One F32 tensor "attn.0" of shape [1,2,3] = 0..5: the header JSON is exactly 64 bytes (no padding).
  const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header.length, 64);
  const expected = new Uint8Array(8 + 64 + 24);
  expected[0] = 64;
  expected.set(new TextEncoder().encode(header), 8);
  expected.set([0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64], 72);
  const got = encodeSafetensors({
    'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) },
  });
  assert.deepEqual(got, expected);

  // "attn0" of shape [1,1,2,3]: 65 JSON bytes, padded with 7 spaces to 72.
  const h2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.equal(h2.length, 65);
  const got2 = encodeSafetensors({
    attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) },
  });
  assert.equal(got2[0], 72);
  assert.equal(new TextDecoder().decode(got2.subarray(8, 80)), `${h2}       `);
  assert.deepEqual(got2.subarray(80), f32Bytes([0, 1, 2, 3, 4, 5]));

  // No tensors: "{}" and six spaces; with metadata: the __metadata__ object, padded to 40.
  assert.deepEqual(encodeSafetensors({}), new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]));
  const meta = encodeSafetensors({}, { framework: 'pt' });
  assert.equal(meta[0], 40);
  assert.equal(new TextDecoder().decode(meta.subarray(8)), '{"__metadata__":{"framework":"pt"}}     ');

  // And the decoder reads such a hand-built file.
  const dec = decodeSafetensors(expected);
  assert.deepEqual(Array.from(dec.tensors['attn.0'].data as Float32Array), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(dec.metadata, {});
});

test('encoding is deterministic whatever the insertion order', () => {
  const a: TensorRecord = { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) };
  const b: TensorRecord = { dtype: 'U8', shape: [1], data: new Uint8Array([3]) };
  const one = encodeSafetensors({ a, b }, { x: '1', y: '2' });
  const two = encodeSafetensors({ b, a }, { y: '2', x: '1' });
  assert.deepEqual(one, two);
});

test('decoder accepts unpadded headers and misaligned input, returning aligned copies', () => {
  const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const file = fileFrom(header, f32Bytes([1.5, -2.5]), false);
  // Place the file at an odd offset of a larger buffer so the data is misaligned.
  const big = new Uint8Array(file.length + 3);
  big.set(file, 3);
  const view = big.subarray(3);
  const { tensors } = decodeSafetensors(view);
  assert.ok(tensors.x.data instanceof Float32Array);
  assert.deepEqual(Array.from(tensors.x.data), [1.5, -2.5]);
  // A copy: changing the input does not change the result.
  view.fill(0);
  assert.deepEqual(Array.from(tensors.x.data as Float32Array), [1.5, -2.5]);
});

test('a tensor named __proto__ cannot change the result prototype', () => {
  const file = fileFrom('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array([5]));
  const { tensors } = decodeSafetensors(file);
  assert.equal(Object.getPrototypeOf(tensors), Object.prototype);
  assert.deepEqual(Object.keys(tensors), ['__proto__']);
});

test('validation: every malformed file is a one-line UserError naming the source', () => {
  const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const data8 = f32Bytes([1, 2]);
  rejects(new Uint8Array(5), /5 bytes long, shorter than the 8-byte header length/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setUint32(0, 100_000_001, true);
  rejects(huge, /header length 100000001 is over the 100000000 byte limit/);
  const hi = new Uint8Array(16);
  hi[7] = 1;
  rejects(hi, /over the 100000000 byte limit/);
  const past = new Uint8Array(16);
  past[0] = 100;
  rejects(past, /header length 100 runs past the end of the 16-byte file/);
  const latin1 = fileFrom('{"a?":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}');
  latin1[8 + 3] = 0xe9; // a lone Latin-1 byte instead of "?"
  rejects(latin1, /not valid UTF-8/);
  rejects(fileFrom('{"a": nope}'), /not valid JSON/);
  rejects(fileFrom('[1,2]'), /not a JSON object/);
  rejects(
    fileFrom('{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', new Uint8Array(2)),
    /tensor "a" has unknown dtype "F8_E4M3"/,
  );
  rejects(
    fileFrom('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'),
    /shape \[-1\]; dimensions must be non-negative integers/,
  );
  rejects(fileFrom('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}}'), /shape \[1.5\]/);
  rejects(fileFrom('{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', data8), /shape "2"/);
  rejects(
    fileFrom('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', data8),
    /data_offsets \[0\]; expected \[begin, end\]/,
  );
  rejects(fileFrom('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', data8), /end before they begin/);
  rejects(fileFrom('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}', data8), /beyond the 8-byte data section/);
  rejects(
    fileFrom('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', data8),
    /has 8 bytes of data but shape \[3\] of F32 needs 12/,
  );
  rejects(
    fileFrom('{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', f32Bytes([1, 2, 3])),
    /gap in the data section: bytes \[0,4\]/,
  );
  rejects(
    fileFrom(
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
      f32Bytes([1, 2, 3]),
    ),
    /tensor "b" at bytes \[4,12\] overlaps the previous tensor, which ends at 8/,
  );
  rejects(fileFrom(ok, f32Bytes([1, 2, 3])), /the tensors cover 8 bytes but the data section has 12/);
  rejects(
    fileFrom('{"__metadata__":{"step":3},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', data8),
    /metadata value "step" is 3, not a string/,
  );
  rejects(fileFrom('{"__metadata__":[1]}'), /"__metadata__" is not an object/);
  rejects(fileFrom('{"a":[1]}'), /tensor "a" has no \{dtype, shape, data_offsets\} entry/);
  rejects(
    fileFrom('{"bad\\nname":{"dtype":"X","shape":[],"data_offsets":[0,0]}}'),
    /tensor "bad\\nname" has unknown dtype/,
  );
  // Sanity: the valid one passes.
  assert.deepEqual(Array.from(decodeSafetensors(fileFrom(ok, data8)).tensors.a.data as Float32Array), [1, 2]);
});

test('encoder rejects inconsistent records with plain Errors', () => {
  assert.throws(
    () => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }),
    /needs 12 bytes, data has 8/,
  );
  assert.throws(
    () => encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Int32Array(2) } }),
    /needs a Float32Array/,
  );
  assert.throws(
    () => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }),
    /reserved/,
  );
  assert.throws(
    () => encodeSafetensors({ a: { dtype: 'Q8' as 'U8', shape: [0], data: new Uint8Array(0) } }),
    /unsupported dtype Q8/,
  );
  assert.throws(() => encodeSafetensors({}, { step: 3 as unknown as string }), /must be a string/);
  // Raw bytes are accepted for any dtype.
  const raw = encodeSafetensors({ a: { dtype: 'F32', shape: [1], data: f32Bytes([2.5]) } });
  assert.deepEqual(Array.from(decodeSafetensors(raw).tensors.a.data as Float32Array), [2.5]);
});

test('float32 -> float16: every half value round-trips, and rounding is to nearest even', () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = f16BitsToNumber(h);
    if (Number.isNaN(x)) assert.ok(Number.isNaN(f16BitsToNumber(numberToF16Bits(x))));
    else assert.equal(numberToF16Bits(x), h, `half 0x${h.toString(16)} = ${x}`);
  }
  assert.equal(numberToF16Bits(1), 0x3c00);
  assert.equal(numberToF16Bits(65504), 0x7bff);
  assert.equal(numberToF16Bits(65520), 0x7c00); // halfway to the next binade rounds up to infinity
  assert.equal(numberToF16Bits(0.1), 0x2e66);
  assert.equal(numberToF16Bits(1 + 2 ** -11), 0x3c00); // halfway between 1 and 1+2^-10: ties to even (down)
  assert.equal(numberToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // halfway, odd below: up
  assert.equal(numberToF16Bits(2 ** -25), 0); // halfway to the smallest subnormal: to even (zero)
  assert.equal(numberToF16Bits(1.5 * 2 ** -25), 1);
  assert.equal(numberToF16Bits(-(2 ** -14)), 0x8400);
  // random floats: the nearest half, never more than half an ulp away
  let s = 12345;
  for (let i = 0; i < 2000; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const x = Math.fround((i % 2 ? -1 : 1) * (0.5 + s / 2 ** 32) * 2 ** ((i % 30) - 20)); // subnormal to 2^9
    const h = numberToF16Bits(x) & 0x7fff; // compare magnitudes with the neighbouring halves
    const ax = Math.abs(x);
    const err = Math.abs(f16BitsToNumber(h) - ax);
    assert.ok(h > 0 && err <= f16BitsToNumber(h + 1) - ax && err <= ax - f16BitsToNumber(h - 1), `${x}`);
  }
});

test('recordToF16 halves the bytes, decodes back within half precision, and refuses values beyond its range', () => {
  const rec: TensorRecord = { dtype: 'F32', shape: [2, 2], data: Float32Array.from([0.5, -3.14159, 1e-3, 1000]) };
  const h = recordToF16(rec)!;
  assert.equal(h.dtype, 'F16');
  assert.deepEqual(h.shape, [2, 2]);
  const bytes = decodeSafetensors(encodeSafetensors({ w: h })).tensors.w;
  const back = recordToFloat32(bytes);
  [0.5, -3.14159, 1e-3, 1000].forEach((v, i) => assert.ok(Math.abs(back[i] - v) <= Math.abs(v) * 2 ** -11, `${v}`));
  assert.equal(recordToF16({ dtype: 'F32', shape: [1], data: Float32Array.from([7e4]) }), null);
  assert.equal(recordToF16({ dtype: 'F32', shape: [1], data: Float32Array.from([NaN]) }), null);
});
