// metrics.jsonl of a run: one JSON object per logged step, appended as training goes. An append is not atomic, so a
// crash or a full disk can tear the last line; readers drop it. A bad line anywhere else is damage, reported by line.
import fs from 'node:fs';
import { UserError } from '../core/errors.ts';
import { appendFileOrUserError, readTextOrUserError, writeFileAtomic } from './fs-atomic.ts';

/** One logged step: step, epoch, loss and its terms, lr, gradNorm, imagesPerSec, time. */
export type MetricsRow = { step: number } & Record<string, number>;

/**
 * The rows of metrics.jsonl text. The text after the last newline, when it is not a whole record, is a torn append
 * (also the NUL bytes a power loss can leave): dropped, and `warn` told. Any other bad line is a UserError naming it.
 */
export function parseMetricsLog(text: string, file: string, warn?: (line: string) => void): MetricsRow[] {
  const lines = text.split('\n');
  const rows: MetricsRow[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const row = parseRow(line);
    if (row) rows.push(row);
    else if (i === lines.length - 1)
      warn?.(`deepgen: warning: dropped the incomplete last line of ${file} (a write was cut off): ${preview(line)}`);
    else {
      throw new UserError(
        `${file} line ${i + 1} is not a metrics record (${preview(line)}), so the log is damaged; delete that line (or the whole file, losing the log) and run again`,
      );
    }
  });
  return rows;
}

/** The rows of a run's metrics.jsonl ([] when it does not exist yet); see parseMetricsLog. */
export function readMetricsLog(file: string, warn?: (line: string) => void): MetricsRow[] {
  if (!fs.existsSync(file)) return [];
  return parseMetricsLog(readTextOrUserError(file, 'the metrics log'), file, warn);
}

/** On resume: keeps the rows up to the checkpoint's step (later ones are logged again), rewritten atomically. */
export function truncateMetrics(file: string, step: number, warn?: (line: string) => void): void {
  if (!fs.existsSync(file)) return;
  if (step === 0) {
    fs.rmSync(file);
    return;
  }
  const kept = readMetricsLog(file, warn).filter((r) => r.step <= step);
  writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** Appends one row; a full disk (or another fixable fs problem) is one UserError ending with `hint()`. */
export function appendMetrics(file: string, row: MetricsRow, hint: () => string): void {
  appendFileOrUserError(file, JSON.stringify(row) + '\n', hint);
}

function parseRow(line: string): MetricsRow | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const step = (v as Record<string, unknown>).step;
  return Number.isSafeInteger(step) && (step as number) >= 0 ? (v as MetricsRow) : null;
}

/** The start of a bad line, quoted so that control characters (a torn write's NULs) stay visible on one line. */
function preview(line: string): string {
  return JSON.stringify(line.length > 40 ? line.slice(0, 40) + '...' : line);
}
