// The double crash of issue 19 (item 2) with real training: `deepgen train --checkpoint-every` SIGKILLed while its second
// save renames files, then the resume SIGKILLed the same way in its first save; a third run resumes from the last
// completed save, takes over the dead trainers' lock, cleans their temp files, and ends where an uninterrupted run ends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-store.ts';
import { LOCK_FILE } from '../../src/node/run-lock.ts';
import { resolveRunConfig } from '../../src/core/config/run-config.ts';
import { UserError } from '../../src/core/errors.ts';
import { trainRun } from '../../src/node/run.ts';
import { bundleForNode } from '../helpers/bundle.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-crash-train-'));
let INJECTOR = '';
before(() => {
  INJECTOR = bundleForNode(path.join(import.meta.dirname, '../helpers/fs-crash.ts'), path.join(TMP, 'fs-crash.mjs'));
});
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const TRAIN = [
  'train',
  'vae',
  '--dataset',
  'shapes',
  '--size',
  '16',
  '--train-n',
  '64',
  '--test-n',
  '16',
  '--batch-size',
  '16',
  '--hidden',
  '16',
  '--latent',
  '2',
  '--steps',
  '12',
  '--checkpoint-every',
  '4',
  '--log-every',
  '4',
  '--seed',
  '7',
  '--backend',
  'auto',
  '--quiet',
];
const RESUME = ['train', '--resume', '--backend', 'auto', '--quiet'];

/** `deepgen ARGS --out dir`, SIGKILLed just before its `nth` rename onto state.json (a save's rename phase: the model is
 *  already replaced, state.json and config.json not yet). */
function killedInSave(args: string[], dir: string, nth: number): Promise<CliResult> {
  const env = {
    ...process.env,
    DEEPGEN_CRASH_DIR: dir,
    DEEPGEN_CRASH_AT: String(nth),
    DEEPGEN_CRASH_MATCH: '^renameSync .* -> .*/state\\.json$',
  };
  return runCli([...args, '--out', dir], { cwd: TMP, env, nodeArgs: ['--import', INJECTOR] });
}

function tensors(file: string): Record<string, Float32Array> {
  const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  return Object.fromEntries(Object.entries(tensors).map(([k, r]) => [k, r.data as Float32Array]));
}

test("e2e: SIGKILL in a save, then in the resumed run's first save: the next resume continues from the last completed save", async () => {
  const run = path.join(TMP, 'run');
  const straight = path.join(TMP, 'straight');
  const reference = runCli([...TRAIN, '--out', straight], { cwd: TMP });

  const first = await killedInSave(TRAIN, run, 2); // the save at step 8 (step 4's completed)
  assert.equal(first.signal, 'SIGKILL', `the first run was not killed in its second save:\n${first.stderr}`);
  assert.equal(loadCheckpoint(run, { warn: () => {} }).state.step, 4);

  const second = await killedInSave(RESUME, run, 1); // resumed from step 4, killed in its save at step 8
  assert.equal(second.signal, 'SIGKILL', `the resumed run was not killed in its first save:\n${second.stderr}`);
  assert.match(second.stderr, /loaded the previous checkpoint \(step 4\)/);
  assert.match(second.stderr, /Resuming vae from step 4 /);
  const warned: string[] = [];
  assert.equal(
    loadCheckpoint(run, { warn: (l) => warned.push(l) }).state.step,
    4,
    'after two crashes the folder still loads at step 4',
  );
  assert.ok(
    fs.readdirSync(run).some((f) => /\.tmp-\d+-[0-9a-f]+$/.test(f)),
    'the killed save left temp files',
  );
  assert.ok(fs.existsSync(path.join(run, LOCK_FILE)), 'the killed trainer left its lock');

  const third = await runCli([...RESUME, '--out', run], { cwd: TMP });
  assert.equal(third.code, 0, third.stderr);
  assert.match(third.stderr, /which is no longer running; taking over the lock/);
  assert.match(third.stderr, /Resuming vae from step 4 /);
  assert.equal(loadCheckpoint(run).state.step, 12);
  const left = fs.readdirSync(run).filter((f) => /\.tmp-|^\.previous|^\.deepgen\.lock$/.test(f));
  assert.deepEqual(left, [], 'no temp files, backup or lock left');
  const steps = fs
    .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [4, 8, 12], 'metrics.jsonl has each step once');

  const ref = await reference;
  assert.equal(ref.code, 0, ref.stderr);
  const [a, b] = [tensors(path.join(run, 'model.safetensors')), tensors(path.join(straight, 'model.safetensors'))];
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    const diff = Math.max(...a[k].map((x, i) => Math.abs(x - b[k][i])));
    assert.ok(diff <= 1e-5, `${k}: the twice-crashed run differs from the uninterrupted one by ${diff}`);
  }
});

test("a run's start removes the temp files of killed writers (run folder and samples/), even if it fails before saving", async () => {
  const run = await trainTinyRun('vae', path.join(TMP, 'tiny'), { steps: 2 });
  const dead = 2 ** 30; // above any pid_max: no such process
  fs.mkdirSync(path.join(run, 'samples'));
  const planted = ['model.safetensors', 'eval.json', 'samples/step-0000002.png'].map((f) =>
    path.join(run, `${f}.tmp-${dead}-ab12`),
  );
  const live = path.join(run, `metrics.jsonl.tmp-${process.ppid}-cd34`); // a live writer's: kept
  for (const f of [...planted, live]) fs.writeFileSync(f, 'partial');
  const config = resolveRunConfig('ae', [{ data: { dataset: 'shapes', size: 16, trainN: 64, testN: 16 } }], []);
  await assert.rejects(
    trainRun({ config, out: run, resume: true, quiet: true, log: () => {} }),
    (e) => e instanceof UserError && /holds a vae run, not ae/.test(e.message),
  );
  assert.deepEqual(
    planted.filter((f) => fs.existsSync(f)),
    [],
    'temp files of dead writers left',
  );
  assert.ok(fs.existsSync(live), "a live writer's temp file was removed");
  assert.equal(fs.existsSync(path.join(run, LOCK_FILE)), false);
});
