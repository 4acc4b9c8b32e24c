// Child process of test/train/train-api.test.ts: train() on tiny data with every output path exercised (step grids,
// periodic checkpoints, final pictures and evaluation) and no log; writes what it saw as JSON to argv[2]. The parent
// checks that the child's stdout and stderr stayed empty.
import fs from 'node:fs';
import { train } from '../../src/node/train.ts';

const [resultFile, out] = process.argv.slice(2);
const sigintBefore = process.listenerCount('SIGINT');
const sigintDuring: number[] = [];
const checkpoints: number[] = [];
const r = await train(
  {
    family: 'vae',
    model: { hidden: [16], latent: 2 },
    data: { dataset: 'shapes', size: 8, trainN: 64, testN: 16 },
    train: { steps: 4, batchSize: 32, sampleEvery: 2, checkpointEvery: 2, logEvery: 1 },
  },
  {
    out: out!,
    backend: 'cpu',
    onStep: () => sigintDuring.push(process.listenerCount('SIGINT')),
    onCheckpoint: (c) => checkpoints.push(c.step),
  },
);
fs.writeFileSync(
  resultFile!,
  JSON.stringify({
    step: r.step,
    files: r.files,
    sigintBefore,
    sigintDuring,
    sigintAfter: process.listenerCount('SIGINT'),
    checkpoints,
  }),
);
