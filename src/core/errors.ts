// UserError: a problem with the user's input (flag, file, config), reported as one clear line.
// The CLI prints its message without a stack trace and exits with code 2.

/** A problem with the caller's input (an option, a file, a config), its message one line naming the problem and the fix. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** Foreign text (a parser's message, a value from a file) made safe for a one-line message: control characters escaped. */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A parsed JSON value as short JSON for a one-line message ("missing" for undefined). */
export function preview(v: unknown, max = 40): string {
  const s = JSON.stringify(v) ?? 'missing';
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}
