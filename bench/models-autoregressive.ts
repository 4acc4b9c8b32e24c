// Bench figures of the image GPT family as shipped: 16 samples of 16x16x1 (256 tokens) from the default model config
// (untrained: the speed does not depend on the weights), with the key/value cache and with the reference sampler that
// re-runs the whole prefix every step. Same model, same config, same seed; both run to the end on wasm and native.
import { igptFamily, type IgptModel } from '../src/core/families/igpt/index.ts';
import type { DataInfo } from '../src/core/family.ts';
import type { BenchEntry } from './run.ts';

const info: DataInfo = { height: 16, width: 16, channels: 1, numClasses: 0 };
const N_SAMPLES = 16;

/**
 * rows(backend): how many of the image rows to time (null = all). Each uncached step re-runs the prefix, so its cost
 * grows with the position: timing the first rows and extrapolating linearly over-estimates the no-cache speed
 * (a conservative figure for the cache's speed-up).
 */
function igptSample(kvCache: boolean, rows: (backend: string) => number | null): BenchEntry['run'] {
  return (backend, time) => {
    const model = igptFamily.create(igptFamily.modelSchema.parse(igptFamily.defaults.model), info, 1) as IgptModel;
    const N = model.seqLen,
      r = rows(backend),
      limit = r === null ? N : r * info.width;
    let check = 0;
    const t = time(() => {
      const tokens = model.sampleTokens(N_SAMPLES, 5, { kvCache }, { limit });
      check = tokens.reduce((a, b) => a + b, 0);
    });
    model.dispose();
    if (!Number.isFinite(check)) throw new Error('bad samples');
    const perRun = (t.perRun * N) / limit;
    return {
      value: N_SAMPLES / perRun,
      runs: t.runs,
      seconds: t.seconds,
      note:
        limit < N
          ? `timed the first ${r} of ${info.height} rows and extrapolated linearly (an upper bound: later steps re-run a longer prefix)`
          : undefined,
    };
  };
}

// the pure-JS cpu backend times the first 2 rows with both samplers (a full no-cache run takes minutes there)
const rows = (backend: string) => (backend === 'cpu' ? 2 : null);
export const entries: BenchEntry[] = [
  { name: 'igpt sample kv-cache', unit: 'images/s', run: igptSample(true, rows) },
  { name: 'igpt sample no-cache', unit: 'images/s', run: igptSample(false, rows) },
];
