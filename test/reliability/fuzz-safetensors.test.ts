// Fuzzing the safetensors reader: mutated valid files and generated headers either decode to consistent tensors or
// fail as one-line UserErrors; never another error, a slow case, or more than 128 MiB of extra peak memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeSafetensors,
  encodeSafetensors,
  numel,
  SUPPORTED_DTYPES,
  type TensorRecord,
} from '../../src/core/checkpoint/safetensors.ts';
import { userError } from '../helpers/assert.ts';
import { fuzz, loadsOrUserError, mutatedBytes, peakRssMiB } from '../helpers/fuzz.ts';

const MEMORY_MIB = 128;

const valid: Uint8Array[] = [
  encodeSafetensors(
    {
      'enc.w': { dtype: 'F32', shape: [3, 2], data: new Float32Array([1, -2, 3.5, 0, 1e-7, -1e7]) },
      'enc.b': { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
      step: { dtype: 'I64', shape: [], data: new BigInt64Array([12n]) },
      mask: { dtype: 'BOOL', shape: [4], data: new Uint8Array([1, 0, 1, 1]) },
      empty: { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
    },
    { format: 'deepgen', step: '12' },
  ),
  encodeSafetensors({ x: { dtype: 'U8', shape: [5], data: new Uint8Array([1, 2, 3, 4, 5]) } }),
  encodeSafetensors({}),
];

function describe(bytes: Uint8Array): string {
  return `${bytes.length} bytes: ${Buffer.from(bytes.subarray(0, 200)).toString('latin1')}`;
}

/** What a successful decode must satisfy: every tensor's data holds exactly its shape's elements. */
function consistent(recs: Record<string, TensorRecord>): void {
  for (const [name, r] of Object.entries(recs)) assert.equal(r.data.length, numel(r.shape), `tensor ${name}`);
}

function decodeChecked(bytes: Uint8Array): void {
  const out = loadsOrUserError(
    () => decodeSafetensors(bytes, 'model.safetensors'),
    () => describe(bytes),
  );
  if (out) consistent(out.tensors);
}

test('regression (fuzz counterexample): a header whose JSON error quotes a carriage return is still a one-line message', () => {
  const bytes = Uint8Array.from([8, 0, 0, 0, 0, 0, 0, 0, 13, 125, 32, 32, 32, 32, 32, 32]); // header "\\r}      "
  userError(
    () => decodeSafetensors(bytes, 'model.safetensors'),
    /^model\.safetensors is not a valid safetensors file: the header is not valid JSON \(.*\\r.*\); re-save it/,
  );
});

// Headers built from parts, to reach the checks past JSON parsing: odd dtypes, shapes, offsets, names and metadata.
const dim = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(-1, 0.5, 2 ** 31, 2 ** 53, 1e308, '2', null));
const entry = fc.record({
  dtype: fc.oneof(fc.constantFrom(...SUPPORTED_DTYPES), fc.constantFrom('F8', 'f32', '', 7, null)),
  shape: fc.oneof(fc.array(dim, { maxLength: 3 }), fc.constantFrom(null, 3, 'x')),
  data_offsets: fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })),
    fc.constantFrom(null, [0], [-1, 4], [0, 2 ** 60], [1.5, 4]),
  ),
});
const header = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', '__metadata__', 'toString')),
  fc.oneof(
    entry,
    fc.jsonValue({ maxDepth: 1 }),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer())),
  ),
  { maxKeys: 4 },
);

test('fuzz: safetensors files, mutated and with generated headers, load or give one UserError line', () => {
  const before = peakRssMiB();
  fuzz(mutatedBytes(valid), 10000, ({ bytes }) => decodeChecked(bytes));
  const file = fc.record({
    header,
    data: fc.uint8Array({ maxLength: 48 }),
    pad: fc.boolean(),
    lenDelta: fc.constantFrom(0, 0, 0, 1, -1, 2 ** 20),
  });
  fuzz(file, 10000, ({ header: h, data, pad, lenDelta }) => {
    let json = new TextEncoder().encode(JSON.stringify(h));
    if (pad) json = Uint8Array.from([...json, ...new Array((8 - (json.length % 8)) % 8).fill(0x20)]);
    const bytes = new Uint8Array(8 + json.length + data.length);
    new DataView(bytes.buffer).setUint32(0, Math.max(0, json.length + lenDelta), true);
    bytes.set(json, 8);
    bytes.set(data, 8 + json.length);
    decodeChecked(bytes);
  });
  assert.ok(peakRssMiB() - before < MEMORY_MIB, `peak memory grew by ${(peakRssMiB() - before).toFixed(0)} MiB`);
});
