// A tiny checkpoint whose every tensor and JSON file is derived from its step, so a test can tell which save a loaded
// checkpoint came from and that no part of it came from another save.
import type { Checkpoint } from '../../src/core/checkpoint/format.ts';

export function tinyCheckpoint(step: number, opts: { ema?: boolean } = {}): Checkpoint {
  const f = (n: number, k: number) => new Float32Array(n).map((_, i) => step + k + i / 8);
  return {
    config: {
      family: 'vae',
      formatVersion: 1,
      config: { latent: 2, savedAt: step },
      createdBy: 'deepgen',
      dataInfo: { height: 4 },
    },
    weights: {
      'enc.w': { dtype: 'F32', shape: [2, 3], data: f(6, 0) },
      'enc.b': { dtype: 'F32', shape: [3], data: f(3, 1) },
    },
    optimizer: {
      'm.enc.w': { dtype: 'F32', shape: [2, 3], data: f(6, 2) },
      t: { dtype: 'I32', shape: [], data: new Int32Array([step]) },
    },
    ...(opts.ema ? { ema: { 'enc.w': { dtype: 'F32', shape: [2, 3], data: f(6, 3) } } } : {}),
    state: { step, epoch: step / 10, rng: [1, 2, 3, step] },
  };
}
