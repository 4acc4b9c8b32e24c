// Config overrides: `--set a.b=c` strings applied onto a plain config object before validation.
// Values parse as JSON when they can (numbers, booleans, null, arrays), otherwise as strings.
import { UserError } from '../errors.ts';

export type PlainObject = Record<string, unknown>;

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
  let cur: PlainObject = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (next === undefined || next === null) cur[k] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new UserError(`Bad --set path "${path}": "${k}" is not a section`);
    cur = cur[k] as PlainObject;
  }
  cur[keys[keys.length - 1]] = value;
}

/** Apply ["a.b=1", "c=x"] overrides. */
export function applySets(obj: PlainObject, sets: string[]): PlainObject {
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UserError(`Bad --set "${s}": expected key=value, e.g. --set train.lr=0.0005`);
    setPath(obj, s.slice(0, eq).trim(), parseValue(s.slice(eq + 1).trim()));
  }
  return obj;
}

/** Deep merge of plain objects (arrays and scalars from `b` replace those in `a`). */
export function deepMerge(a: PlainObject, b: PlainObject): PlainObject {
  const out: PlainObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const av = out[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && av && typeof av === 'object' && !Array.isArray(av)) {
      out[k] = deepMerge(av as PlainObject, v as PlainObject);
    } else {
      out[k] = v;
    }
  }
  return out;
}
