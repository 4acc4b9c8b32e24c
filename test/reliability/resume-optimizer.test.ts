// Resume never drops Adam's state silently: every missing, renamed, reshaped, extra or non-finite moment, and a bad
// optimizerStep in state.json, stops `deepgen train --resume` with one line naming the file and the tensor (exit 2).
// --reset-optimizer goes on anyway with a warning: the weights continue from the checkpoint, Adam from zero moments.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TensorRecord } from '../../src/core/checkpoint/safetensors.ts';
import { parseCheckpointState } from '../../src/core/checkpoint/format.ts';
import { UserError } from '../../src/core/errors.ts';
import { assertUserError, runCli, type CliResult } from '../helpers/cli.ts';
import { editState, editTensors, readFloats } from '../helpers/checkpoint-files.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-resume-opt-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** A VAE checkpoint at step 4 (of 4); every test resumes a copy of it. */
const BASE = path.join(TMP, 'base');
let param = ''; // one parameter name, e.g. "decoder.fc1.bias"

before(async () => {
  await trainTinyRun('vae', BASE, { steps: 4 });
  param = Object.keys(readFloats(path.join(BASE, 'optimizer.safetensors')))[0].replace(/\.[mv]$/, '');
});

let copies = 0;
function copyOfBase(): string {
  const dir = path.join(TMP, `run-${++copies}`);
  fs.cpSync(BASE, dir, { recursive: true });
  return dir;
}

/** One more step (4 -> 5) of the run in dir. */
function resume(dir: string, ...flags: string[]): Promise<CliResult> {
  return runCli(['train', '--resume', '--out', dir, '--steps', '8', '--stop-at', '5', '--quiet', ...flags], {
    cwd: TMP,
  });
}

const optimizerFile = (dir: string) => path.join(dir, 'optimizer.safetensors');
const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('resume refuses damaged optimizer state with one line', { concurrency: 3 }, () => {
  const cases: [string, (dir: string) => void, () => RegExp[]][] = [
    [
      'optimizer.safetensors missing',
      (d) => fs.rmSync(optimizerFile(d)),
      () => [/optimizer\.safetensors in \S+ not found/, /Adam made 4 updates/],
    ],
    [
      'optimizer.safetensors with no tensors',
      (d) => editTensors(optimizerFile(d), (t) => Object.keys(t).forEach((k) => delete t[k])),
      () => [/optimizer\.safetensors in \S+ has no Adam moments/],
    ],
    [
      'renamed tensors',
      (d) =>
        editTensors(optimizerFile(d), (t) => Object.keys(t).forEach((k) => ((t[`model.${k}`] = t[k]), delete t[k]))),
      () => [new RegExp(`missing .*${quote(param)}\\.m`), new RegExp(`unexpected .*model\\.${quote(param)}\\.m`)],
    ],
    [
      "one parameter's moments missing",
      (d) => editTensors(optimizerFile(d), (t) => (delete t[`${param}.m`], delete t[`${param}.v`])),
      () => [new RegExp(`does not match the model: missing ${quote(param)}\\.m, ${quote(param)}\\.v\\.`)],
    ],
    [
      'a reshaped tensor',
      (d) =>
        editTensors(optimizerFile(d), (t) => {
          const r = t[`${param}.v`];
          r.shape = [r.shape.reduce((a, b) => a * b, 1), 1];
        }),
      () => [new RegExp(`${quote(param)}\\.v has shape \\[\\d+,1\\] but the model expects`)],
    ],
    [
      'an extra tensor',
      (d) =>
        editTensors(
          optimizerFile(d),
          (t) => void (t['ghost.weight.m'] = { dtype: 'F32', shape: [2], data: new Float32Array(2) } as TensorRecord),
        ),
      () => [/unexpected ghost\.weight\.m/],
    ],
    [
      'a NaN second moment',
      (d) => editTensors(optimizerFile(d), (t) => void ((t[`${param}.v`].data as Float32Array)[0] = NaN)),
      () => [new RegExp(`${quote(param)}\\.v holds negative or non-finite values`)],
    ],
    [
      'a negative optimizerStep',
      (d) => editState(d, (s) => void (s.optimizerStep = -3)),
      () => [/state\.json in \S+ has optimizerStep -3, not a non-negative integer/],
    ],
    [
      'a non-numeric optimizerStep',
      (d) => editState(d, (s) => void (s.optimizerStep = 'four')),
      () => [/state\.json in \S+ has optimizerStep "four"/],
    ],
    [
      'optimizerStep per group for a one-optimizer model',
      (d) => editState(d, (s) => void (s.optimizerStep = { D: 4, G: 4 })),
      () => [/optimizerStep \{"D":4,"G":4\}, but this model has one optimizer/],
    ],
  ];
  for (const [name, damage, patterns] of cases) {
    test(name, async () => {
      const dir = copyOfBase();
      damage(dir);
      const line = assertUserError(await resume(dir), ...patterns());
      // every optimizer problem says how to go on; state.json damage found while parsing says to restore the folder
      assert.match(line, /--reset-optimizer|restore it/);
      assert.equal(
        JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).step,
        4,
        'the checkpoint is left as it was',
      );
    });
  }
});

test('--reset-optimizer resumes with a warning: the weights continue from the checkpoint, Adam from zero moments', async () => {
  const dir = copyOfBase();
  fs.rmSync(optimizerFile(dir));
  const before = readFloats(path.join(dir, 'model.safetensors'));
  const r = await resume(dir, '--reset-optimizer');
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('deepgen: warning:'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /--reset-optimizer: Adam restarts from zero moments at step 4/);
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  assert.equal(state.step, 5);
  assert.equal(state.optimizerStep, 1, "Adam's t restarts");
  const lr = JSON.parse(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!).lr;
  const moments = readFloats(optimizerFile(dir));
  const afterStep = readFloats(path.join(dir, 'model.safetensors'));
  // one Adam step from zero moments (t = 1, beta1 0.9, beta2 0.999): m = 0.1 g, v = 0.001 g^2, so m^2 / v = 10 and
  // w5 = w4 - lr (m / 0.1) / (sqrt(v / 0.001) + 1e-8), with w4 the checkpoint's weights
  let checked = 0;
  for (const [name, w4] of Object.entries(before)) {
    const { data: m } = moments[`${name}.m`];
    const { data: v } = moments[`${name}.v`];
    const w5 = afterStep[name].data;
    for (let i = 0; i < w4.data.length; i++) {
      const expected = w4.data[i] - (lr * (m[i] / 0.1)) / (Math.sqrt(v[i] / 0.001) + 1e-8);
      assert.ok(
        Math.abs(w5[i] - expected) <= 1e-6 + 1e-6 * Math.abs(expected),
        `${name}[${i}]: ${w5[i]} != ${expected}`,
      );
      if (v[i] > 1e-20) {
        assert.ok(
          Math.abs((m[i] * m[i]) / v[i] - 10) < 1e-3,
          `${name}[${i}]: m^2/v = ${(m[i] * m[i]) / v[i]}, not a first step`,
        );
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} moments checked`);
  // the ratio test can fail: after a normal resume (t = 5) the moments are not those of a first step
  const normal = copyOfBase();
  assert.equal((await resume(normal)).code, 0);
  const kept = readFloats(optimizerFile(normal));
  const ratios = Object.keys(kept)
    .filter((k) => k.endsWith('.m'))
    .flatMap((k) => Array.from(kept[k].data, (m, i) => (m * m) / kept[k.replace(/m$/, 'v')].data[i]));
  assert.ok(ratios.some((x) => Math.abs(x - 10) > 0.1));
});

test('train --help documents --reset-optimizer and --reset-ema', async () => {
  const r = await runCli(['train', '--help'], { cwd: TMP });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--reset-optimizer\s+with --resume: restart Adam from zero moments/);
  assert.match(r.stdout, /--reset-ema\s+with --resume: restart the EMA/);
});

test('--reset-optimizer without --resume is refused', async () => {
  assertUserError(
    await runCli(
      ['train', 'vae', '--out', path.join(TMP, 'fresh'), '--reset-optimizer', '--dataset', 'shapes', '--quiet'],
      { cwd: TMP },
    ),
    /--reset-optimizer .*--resume only/,
  );
});

test('state.json: optimizerStep and elapsedSeconds are checked when the checkpoint is read', () => {
  const base = { step: 4, epoch: 1, rng: [1, 2, 3, 4] };
  const parse = (extra: Record<string, unknown>) =>
    parseCheckpointState(JSON.stringify({ ...base, ...extra }), 'state.json in x');
  assert.equal(parse({ optimizerStep: 4 }).optimizerStep, 4);
  assert.deepEqual(parse({ optimizerStep: { D: 8, G: 4 } }).optimizerStep, { D: 8, G: 4 });
  assert.equal(parse({}).optimizerStep, undefined, 'early checkpoints have none');
  for (const bad of [-1, 1.5, 'four', null, [], {}, { D: -1 }, { D: 'x' }]) {
    assert.throws(
      () => parse({ optimizerStep: bad }),
      (e) => e instanceof UserError && /optimizerStep/.test(e.message),
      JSON.stringify(bad),
    );
  }
  for (const bad of [-1, 'x', null]) {
    assert.throws(
      () => parse({ elapsedSeconds: bad }),
      (e) => e instanceof UserError && /elapsedSeconds/.test(e.message),
      JSON.stringify(bad),
    );
  }
});
