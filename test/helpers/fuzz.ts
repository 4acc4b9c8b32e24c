// Fuzzing helpers: seeded fast-check settings, byte and JSON mutators, and the property every parser must keep:
// it returns, or throws a UserError with a one-line message; any other error, a slow case or a memory jump fails.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UserError } from '../../src/core/errors.ts';

/** Fixed seed: the same inputs every run, so a failure reproduces; DEEPGEN_FUZZ_SEED / DEEPGEN_FUZZ_RUNS explore further. */
export const FUZZ = {
  seed: Number(process.env.DEEPGEN_FUZZ_SEED ?? 19),
  runs: (n: number) => Math.max(1, Math.round(n * Number(process.env.DEEPGEN_FUZZ_SCALE ?? 1))),
};

/** A case slower than this counts as a hang (the parsers are linear in small inputs: milliseconds). */
export const CASE_MS = 2000;

/** Peak resident memory of this process so far, in MiB (the kernel's high-water mark, so transient spikes count). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Runs fn on one fuzz input: returns its result, or undefined when it threw a one-line UserError. Anything else
 * (another error type, a multi-line message, a case over CASE_MS) fails with the input's description.
 */
export function loadsOrUserError<T>(fn: () => T, describe: () => string): T | undefined {
  const t0 = performance.now();
  let out: T | undefined;
  try {
    out = fn();
  } catch (e) {
    if (!(e instanceof UserError))
      throw new Error(`internal error ${(e as Error)?.name}: ${(e as Error)?.message} on ${describe()}`, { cause: e });
    assert.ok(!/[\r\n]/.test(e.message), `multi-line message ${JSON.stringify(e.message)} on ${describe()}`);
    assert.ok(e.message.length > 0, 'empty message');
  }
  const ms = performance.now() - t0;
  assert.ok(ms < CASE_MS, `took ${ms.toFixed(0)} ms (a hang?) on ${describe()}`);
  return out;
}

type Edit = { at: number; op: 'flip' | 'set' | 'insert' | 'delete' | 'truncate' | 'zero'; byte: number; len: number };

const edit: fc.Arbitrary<Edit> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate', 'zero'),
  byte: fc.integer({ min: 0, max: 255 }),
  len: fc.integer({ min: 1, max: 64 }),
});

/** Applies byte-level edits to a copy of base (positions taken modulo the current length). */
export function applyEdits(base: Uint8Array, edits: readonly Edit[]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(base);
  for (const e of edits) {
    if (b.length === 0) break;
    const at = e.at % b.length;
    if (e.op === 'flip') b[at] ^= 1 << (e.byte & 7);
    else if (e.op === 'set') b[at] = e.byte;
    else if (e.op === 'zero') b.fill(0, at, at + e.len);
    else if (e.op === 'insert') b = concat(b.subarray(0, at), new Uint8Array(e.len).fill(e.byte), b.subarray(at));
    else if (e.op === 'delete') b = concat(b.subarray(0, at), b.subarray(at + e.len));
    else b = b.slice(0, at);
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Mutated copies of one of the given valid inputs: 1 to 6 byte edits each. */
export function mutatedBytes(
  bases: readonly Uint8Array[],
): fc.Arbitrary<{ base: number; edits: Edit[]; bytes: Uint8Array }> {
  return fc
    .record({ base: fc.nat({ max: bases.length - 1 }), edits: fc.array(edit, { minLength: 1, maxLength: 6 }) })
    .map(({ base, edits }) => ({ base, edits, bytes: applyEdits(bases[base], edits) }));
}

type JsonEdit = { at: number; op: 'replace' | 'delete' | 'add'; key: string; value: unknown };

/** Keys that probe prototype handling and common typos, beside random ones. */
const TRICKY_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'config',
  'family',
  'dataInfo',
  'model',
  'data',
  'train',
  'height',
  '',
];

const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('replace', 'delete', 'add'),
  key: fc.oneof(fc.constantFrom(...TRICKY_KEYS), fc.string({ maxLength: 8 })),
  value: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    // objects whose toString/valueOf are data, not functions: String(v) and `${v}` throw on them
    fc.constantFrom(
      null,
      0,
      -1,
      1e9,
      2 ** 32,
      1e308,
      -0,
      0.5,
      '',
      'x',
      [],
      {},
      [1e9],
      { toString: false },
      { valueOf: 1, toString: null },
    ),
  ),
});

/** Every (container, key) slot of a parsed JSON value, depth first. */
function slots(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): typeof out {
  if (Array.isArray(v)) {
    v.forEach((c, i) => {
      out.push([v, i]);
      slots(c, out);
    });
  } else if (v !== null && typeof v === 'object') {
    for (const [k, c] of Object.entries(v)) {
      out.push([v as Record<string, unknown>, k]);
      slots(c, out);
    }
  }
  return out;
}

/** Applies JSON-level edits (replace a value, delete a key, add a key, prototype keys included) to a deep copy of base. */
export function applyJsonEdits(base: unknown, edits: readonly JsonEdit[]): unknown {
  const root = { v: JSON.parse(JSON.stringify(base)) as unknown };
  for (const e of edits) {
    const all = slots(root.v);
    if (all.length === 0) break;
    const [obj, key] = all[e.at % all.length];
    const value = structuredClone(e.value); // a fresh copy: shared constants would make the value circular
    if (e.op === 'replace') (obj as Record<string, unknown>)[key] = value;
    else if (e.op === 'delete') {
      if (Array.isArray(obj)) obj.splice(key as number, 1);
      else delete (obj as Record<string, unknown>)[key];
    } else {
      const target = (obj as Record<string, unknown>)[key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) {
        Object.defineProperty(target, e.key, { value, enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return root.v;
}

/** JSON text of base with 1 to 5 JSON-level edits; the text is what a file would hold (own "__proto__" keys included). */
export function mutatedJson(base: unknown): fc.Arbitrary<string> {
  return fc.array(jsonEdit, { minLength: 1, maxLength: 5 }).map((edits) => JSON.stringify(applyJsonEdits(base, edits)));
}

/** Runs a seeded property and reports how many cases ran. */
export function fuzz<T>(arb: fc.Arbitrary<T>, numRuns: number, check: (value: T) => void): void {
  fc.assert(
    fc.property(arb, (v) => {
      check(v);
    }),
    { seed: FUZZ.seed, numRuns: FUZZ.runs(numRuns), endOnFailure: true, includeErrorInReport: true },
  );
}
