// Class labels given by index or by name, as a user writes them: "3", 3 or "ankle boot" (case-insensitive).
import { UserError } from '../errors.ts';

/** The class index of a label given as an index (number or digits) or a class name; a one-line UserError when the
 *  model has no such class (the message lists the classes, and names no CLI flag: the browser shows it too). */
export function labelIndex(v: number | string, classNames: readonly string[] | undefined, numClasses: number): number {
  const names = classNames?.length ? `: ${classNames.join(', ')}` : '';
  if (typeof v === 'number' || /^\d+$/.test(v)) {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0 || n >= numClasses)
      throw new UserError(
        `label ${v} is out of range: this model has ${numClasses} classes (0..${numClasses - 1})${names}`,
      );
    return n;
  }
  const i = classNames?.findIndex((c) => c.toLowerCase() === v.toLowerCase()) ?? -1;
  if (i < 0)
    throw new UserError(
      `label "${v}" is not a class of this model; use 0..${numClasses - 1}${classNames?.length ? ` or one of${names}` : ''}`,
    );
  return i;
}
