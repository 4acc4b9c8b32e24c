// A tiny trained run for tests: a family's tinyPreset (plus overrides) trained for a few steps on 16x16 shapes into a
// run folder, without the end-of-training pictures and evaluation. Seconds on the native backend.
import { resolveRunConfig } from '../../src/core/config/run-config.ts';
import { registry, type FamilyName } from '../../src/core/registry.ts';
import { trainRun } from '../../src/node/run.ts';

export interface TinyRunOptions {
  /** Model config over the family's tinyPreset (e.g. { cond: { kind: 'text' } }). */
  model?: Record<string, unknown>;
  trainN?: number;
  testN?: number;
  steps?: number;
  /** Data config over the tiny defaults (e.g. { dataset: 'emoji', dataDir }). */
  data?: Record<string, unknown>;
  /** Train config over the tiny defaults (e.g. { ema: 0.9 }). */
  train?: Record<string, unknown>;
}

/** Trains into `out` and returns it. */
export async function trainTinyRun(family: FamilyName, out: string, o: TinyRunOptions = {}): Promise<string> {
  const config = resolveRunConfig(
    family,
    [
      {
        model: { ...registry[family].tinyPreset, ...o.model },
        data: { dataset: 'shapes', size: 16, trainN: o.trainN ?? 64, testN: o.testN ?? 16, ...o.data },
        train: { steps: o.steps ?? 4, batchSize: 16, logEvery: 100, sampleEvery: 0, checkpointEvery: 0, ...o.train },
      },
    ],
    [],
  );
  await trainRun({ config, out, backend: 'auto', quiet: true, finish: false, log: () => {} });
  return out;
}
