// Shared CLI plumbing: option parsers that reject bad values in one line, and the error boundary (exit code 2).
import { InvalidArgumentError } from 'commander';
import { UserError } from '../core/errors.ts';

export function intOpt(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}".`);
    return n;
  };
}

export function floatOpt(name: string, min = -Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number${min > -Infinity ? ` >= ${min}` : ''}, got "${v}".`);
    return n;
  };
}

export function intListOpt(name: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    if (!parts.length || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) throw new InvalidArgumentError(`${name} must be a comma-separated list of positive integers like 512,256, got "${v}".`);
    return parts.map(Number);
  };
}

export function choiceOpt<T extends string>(name: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!(choices as readonly string[]).includes(v)) throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got "${v}".`);
    return v as T;
  };
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Run a command action; user errors print one line and exit 2, internal errors one line and exit 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}

export function fail(e: unknown): never {
  if (e instanceof UserError) {
    process.stderr.write(`deepgen: error: ${e.message}\n`);
    process.exit(2);
  }
  const err = e as Error;
  if (process.env.DEEPGEN_DEBUG) process.stderr.write(`${err?.stack ?? String(e)}\n`);
  else process.stderr.write(`deepgen: internal error: ${err?.message ?? String(e)} (set DEEPGEN_DEBUG=1 for the stack trace, and please report it)\n`);
  process.exit(1);
}
