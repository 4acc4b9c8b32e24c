// Config overrides: `--set a.b=c` strings applied onto a plain config object before validation.
// Values parse as JSON when they can (numbers, booleans, null, arrays), otherwise as strings.
import { UserError } from '../errors.ts';

export type PlainObject = Record<string, unknown>;

/** Keys that reach Object.prototype through plain objects: never config keys, so always an error (no pollution). */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function checkKey(key: string, where: string): void {
  if (PROTOTYPE_KEYS.has(key))
    throw new UserError(
      `Invalid config key "${key}" in ${where}: __proto__, constructor and prototype are not config keys; remove it`,
    );
}

/** Throws a UserError when any object key, at any depth of a parsed JSON value, is a prototype key. */
export function checkConfigKeys(value: unknown, source: string): void {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) stack.push(...v);
    else
      for (const [k, child] of Object.entries(v)) {
        checkKey(k, source);
        stack.push(child);
      }
  }
}

/** Whether v is a plain (non-array, non-null) object, as config layers and sections must be. */
export function isPlainObject(v: unknown): v is PlainObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Set `obj[a][b][c] = value` for path "a.b.c", creating objects on the way. */
export function setPath(obj: PlainObject, path: string, value: unknown): void {
  const keys = path.split('.');
  if (keys.some((k) => k === '')) throw new UserError(`Bad --set path "${path}": use dotted keys like model.latent=20`);
  for (const k of keys) checkKey(k, `--set ${path}`);
  let cur: PlainObject = obj;
  for (const k of keys.slice(0, -1)) {
    const next = Object.hasOwn(cur, k) ? cur[k] : undefined;
    if (next === undefined || next === null) cur[k] = {};
    else if (typeof next !== 'object' || Array.isArray(next))
      throw new UserError(`Bad --set path "${path}": "${k}" is not a section`);
    cur = cur[k] as PlainObject;
  }
  cur[keys[keys.length - 1]] = value;
}

/** Apply ["a.b=1", "c=x"] overrides. */
export function applySets(obj: PlainObject, sets: string[]): PlainObject {
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UserError(`Bad --set "${s}": expected key=value, e.g. --set train.lr=0.0005`);
    const key = s.slice(0, eq).trim();
    const value = parseValue(s.slice(eq + 1).trim());
    checkConfigKeys(value, `--set ${key}`);
    setPath(obj, key, value);
  }
  return obj;
}

/** Deep merge of plain objects (arrays and scalars from `b` replace those in `a`). */
export function deepMerge(a: PlainObject, b: PlainObject): PlainObject {
  const out: PlainObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    checkKey(k, 'a config layer');
    const av = Object.hasOwn(out, k) ? out[k] : undefined;
    if (isPlainObject(v) && isPlainObject(av)) {
      out[k] = deepMerge(av as PlainObject, v as PlainObject);
    } else {
      out[k] = v;
    }
  }
  return out;
}
