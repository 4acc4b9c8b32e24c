// A run folder with only the files deepgen serve and deepgen leaderboard read (config.json, state.json, a small
// model.safetensors, optional eval.json), written in a test's tmp folder: no training needed.
import fs from 'node:fs';
import path from 'node:path';
import { encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { checkpointFileMetadata } from '../../src/core/checkpoint/format.ts';

/** Six float32 weights at step 10. */
export const FAKE_WEIGHTS = encodeSafetensors(
  { w: { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) } },
  checkpointFileMetadata(10, 'test'),
);

export function makeFakeRun(
  root: string,
  name: string,
  family = 'pixelcnn',
  evalJson?: Record<string, unknown>,
): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const config = {
    family,
    formatVersion: 1,
    createdBy: 'deepgen',
    config: { family, model: {}, data: { dataset: 'fashion-mnist' }, train: { batchSize: 8 } },
    dataInfo: { height: 28, width: 28, channels: 1, numClasses: 10 },
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(
    path.join(dir, 'state.json'),
    JSON.stringify({ step: 10, epoch: 1, rng: [1, 2, 3, 4], elapsedSeconds: 5 }),
  );
  fs.writeFileSync(path.join(dir, 'model.safetensors'), FAKE_WEIGHTS);
  if (evalJson)
    fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify({ step: 10, weights: 'raw', ...evalJson }));
  return dir;
}
