// Child process for the crash tests (bundled by test/helpers/bundle.ts, run under the fs-crash preload):
// `crash-driver DIR OP...` runs each OP on the run folder DIR in order and prints one JSON line per OP.
// OPs: load (loadCheckpoint; prints the step), save:STEP or save:STEP:ema (saveCheckpoint of tinyCheckpoint(STEP)).
import fs from 'node:fs';
import { loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint-store.ts';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.ts';

const [dir, ...ops] = process.argv.slice(2);
const print = (v: unknown) => fs.writeSync(1, JSON.stringify(v) + '\n'); // unbuffered: a SIGKILL must not lose it
for (const op of ops) {
  const [name, step, ema] = op.split(':');
  if (name === 'load') print({ loaded: loadCheckpoint(dir, { warn: () => {} }).state.step });
  else if (name === 'save') {
    saveCheckpoint(dir, tinyCheckpoint(Number(step), { ema: ema === 'ema' }));
    print({ saved: Number(step) });
  } else throw new Error(`unknown op ${op}`);
}
