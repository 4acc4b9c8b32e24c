// UserError: a problem with the user's input (flag, file, config), reported as one clear line, with an optional typed
// hint (the fix) that each surface words its own way: the CLI with its flags (src/cli/common.ts), the rest plainly.

/** A sampling option a hint can name (the library's option; the CLI's flag of the same name). */
export type HintOption = 'label' | 'prompt';

/**
 * The fix of a UserError, named by config key or option rather than by CLI flag.
 * - `setting`: train with config key = value (e.g. model.cond.kind = label);
 * - `option`: pass the sampling option, drop it, or pass it instead of another.
 */
export type ErrorHint =
  | { kind: 'setting'; key: string; value: string | number | boolean }
  | { kind: 'option'; option: HintOption; action: 'pass' | 'drop'; instead?: HintOption };

/** A problem with the caller's input (an option, a file, a config), its message one line naming the problem and the fix. */
export class UserError extends Error {
  /** The problem alone; `message` is the problem and the hint in plain words. */
  readonly problem: string;
  readonly hint?: ErrorHint;
  constructor(problem: string, hint?: ErrorHint) {
    super(hint ? `${problem}; ${wordHint(hint)}` : problem);
    this.name = 'UserError';
    this.problem = problem;
    if (hint) this.hint = hint;
  }
}

const PLAIN_OPTION: Record<HintOption, string> = { label: 'a class label (its index or name)', prompt: 'a prompt' };

/** A hint in plain words (the web page, library callers): "train with model.cond.kind=label". */
export function wordHint(hint: ErrorHint): string {
  if (hint.kind === 'setting') return `train with ${hint.key}=${String(hint.value)}`;
  if (hint.action === 'drop') return `sample without a ${hint.option}`;
  if (hint.instead) return `pass ${PLAIN_OPTION[hint.option]} instead of a ${hint.instead}`;
  return `pass ${PLAIN_OPTION[hint.option]}`;
}

/** Foreign text (a parser's message, a value from a file) made safe for a one-line message: control characters escaped. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A parsed JSON value as short JSON for a one-line message ("missing" for undefined). */
export function preview(v: unknown, max = 40): string {
  const s = JSON.stringify(v) ?? 'missing';
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}
