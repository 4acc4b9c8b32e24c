// The zoo as data for the CLI, the demo and the server: each shipped model's folder, its leaderboard row (family,
// data, conditioning, figures from eval.json / cond-eval.json) and its headline figure.
import path from 'node:path';
import type { CheckpointConfigFile } from '../core/checkpoint/format.ts';
import { leaderboardRow, readRunFiles, type LeaderboardRow } from './leaderboard.ts';
import { ZOO_DIR, zooNames } from './model-source.ts';

export interface ZooEntry {
  name: string;
  /** zoo:NAME */
  spec: string;
  dir: string;
  /** null when the folder cannot be read (error says why). */
  row: LeaderboardRow | null;
  /** Its config.json as read for the row (null with the row). */
  config: CheckpointConfigFile | null;
  error?: string;
}

/** The zoo's models in display order (models/zoo.json), each with its row. */
export function zooEntries(zooDir = ZOO_DIR): ZooEntry[] {
  return zooNames(zooDir).map((name) => {
    const dir = path.join(zooDir, name);
    try {
      const files = readRunFiles(dir);
      return { name, spec: `zoo:${name}`, dir, row: leaderboardRow(files), config: files.config };
    } catch (e) {
      return {
        name,
        spec: `zoo:${name}`,
        dir,
        row: null,
        config: null,
        error: String((e as Error)?.message ?? e).split('\n')[0],
      };
    }
  });
}

/** The figure a model is best known by: conditional accuracy for a conditional model, else bits/dim when it has a
 *  likelihood, else FID. */
export function headlineFigure(row: LeaderboardRow): string {
  const c = row.condAccuracy;
  if (c)
    return c.heldOut !== null
      ? `${(c.overall * 100).toFixed(1)}% right (held-out ${c.heldOutUnit ?? 'pairs'} ${(c.heldOut * 100).toFixed(1)}%${c.n ? `, n=${c.n}` : ''})`
      : `${(c.overall * 100).toFixed(1)}% recognised${c.n ? ` (n=${c.n})` : ''}`;
  const L = row.likelihood;
  if (L.bitsPerDim !== null) return `${L.bitsPerDim.toFixed(3)} bits/dim (${L.kind}${L.n ? `, n=${L.n}` : ''})`;
  const fid = row.sampleQuality?.fid;
  if (fid !== null && fid !== undefined)
    return `FID ${fid.toFixed(1)} (deepgen features${row.sampleQuality?.n ? `, n=${row.sampleQuality.n}` : ''})`;
  return 'not evaluated';
}

/** Every figure a model has: bits/dim, conditional accuracy, FID with precision and recall. */
export function figureLines(r: LeaderboardRow): string[] {
  const out: string[] = [];
  const L = r.likelihood;
  if (L.bitsPerDim !== null)
    out.push(`${L.bitsPerDim.toFixed(3)} bits/dim (${L.kind === 'exact' ? 'exact' : `${L.name}`}, n=${L.n})`);
  const c = r.condAccuracy;
  if (c)
    out.push(
      c.heldOut !== null
        ? `${c.heldOutUnit ? 'category' : 'colour+shape'} right ${(c.overall * 100).toFixed(1)}%, held-out ${c.heldOutUnit ?? 'pairs'} ${(c.heldOut * 100).toFixed(1)}% (n=${c.n})`
        : `class recognised ${(c.overall * 100).toFixed(1)}% (n=${c.n})`,
    );
  const q = r.sampleQuality;
  if (q?.fid !== null && q?.fid !== undefined)
    out.push(
      `FID ${q.fid.toFixed(1)}${q.precision !== null ? `, precision ${q.precision.toFixed(2)}, recall ${(q.recall ?? 0).toFixed(2)}` : ''} (n=${q.n})`,
    );
  return out;
}
