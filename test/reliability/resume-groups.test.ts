// Resume of the rest of the training state: a GAN's two optimizer groups (D and G, each with its own Adam step) and the
// EMA of the weights. A missing or mismatched part stops `deepgen train --resume` with one line naming it (exit 2);
// --reset-ema restarts the average from the checkpoint's weights with a warning, as does switching the EMA on at resume.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertUserError, runCli, type CliResult } from '../helpers/cli.ts';
import { editState, editTensors, readFloats } from '../helpers/checkpoint-files.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-resume-groups-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** Checkpoints at step 4 (of 4): a GAN (groups D and G, EMA of G at 0.999) and a VAE without EMA. */
const GAN = path.join(TMP, 'gan');
const VAE = path.join(TMP, 'vae');

before(async () => {
  await trainTinyRun('gan', GAN, { steps: 4 });
  await trainTinyRun('vae', VAE, { steps: 4 });
});

let copies = 0;
function copyOf(base: string): string {
  const dir = path.join(TMP, `run-${++copies}`);
  fs.cpSync(base, dir, { recursive: true });
  return dir;
}

/** One more step (4 -> 5) of the run in dir. */
function resume(dir: string, ...flags: string[]): Promise<CliResult> {
  return runCli(['train', '--resume', '--out', dir, '--steps', '8', '--stop-at', '5', '--quiet', ...flags], {
    cwd: TMP,
  });
}

const file = (dir: string, name: string) => path.join(dir, name);
const firstKey = (dir: string, name: string, prefix = '') =>
  Object.keys(readFloats(file(dir, name))).find((k) => k.startsWith(prefix))!;

describe('resume refuses a damaged GAN optimizer state or EMA with one line', { concurrency: 3 }, () => {
  const cases: [string, (dir: string) => RegExp[]][] = [
    [
      "group G's moments missing",
      (d) => {
        editTensors(file(d, 'optimizer.safetensors'), (t) =>
          Object.keys(t).forEach((k) => k.startsWith('G/') && delete t[k]),
        );
        return [
          /optimizer\.safetensors in \S+ has no Adam moments for optimizer group G, but state\.json in \S+ says Adam made D \d+, G 4 updates/,
          /--reset-optimizer/,
        ];
      },
    ],
    [
      "one of D's moments reshaped",
      (d) => {
        const key = firstKey(d, 'optimizer.safetensors', 'D/');
        editTensors(file(d, 'optimizer.safetensors'), (t) => void (t[key].shape = [...t[key].shape, 1]));
        return [
          new RegExp(`${key.replace(/[./]/g, '\\$&')} has shape \\[[\\d,]+,1\\] but the model expects`),
          /--reset-optimizer/,
        ];
      },
    ],
    [
      'no step for group G in state.json',
      (d) => {
        editState(d, (s) => void (s.optimizerStep = { D: 4 }));
        return [
          /state\.json in \S+ has optimizerStep \{"D":4\}, with no valid step for optimizer group G/,
          /--reset-optimizer/,
        ];
      },
    ],
    [
      'one step for both groups in state.json',
      (d) => {
        editState(d, (s) => void (s.optimizerStep = 4));
        return [/optimizerStep 4, but this model has one optimizer per group \(D, G\)/];
      },
    ],
    [
      'ema.safetensors missing',
      (d) => {
        fs.rmSync(file(d, 'ema.safetensors'));
        return [
          /ema\.safetensors not found in \S+, but the run keeps an average of its weights \(train\.ema 0\.999\)/,
          /--reset-ema/,
        ];
      },
    ],
    [
      'an EMA tensor reshaped',
      (d) => {
        const key = firstKey(d, 'ema.safetensors');
        editTensors(file(d, 'ema.safetensors'), (t) => void (t[key].shape = [...t[key].shape, 1]));
        return [
          new RegExp(`ema\\.safetensors in \\S+ does not match the model: ${key.replace(/\./g, '\\.')} has shape`),
          /--reset-ema/,
        ];
      },
    ],
  ];
  for (const [name, damage] of cases) {
    test(name, async () => {
      const dir = copyOf(GAN);
      const patterns = damage(dir);
      assertUserError(await resume(dir), ...patterns);
    });
  }
});

/** Asserts ema = d w4 + (1 - d) w5 for every averaged tensor: the average restarted at the step-4 weights w4. */
function assertEmaRestartedAt(w4: Record<string, { data: Float32Array }>, dir: string, d: number): void {
  const ema = readFloats(file(dir, 'ema.safetensors'));
  const w5 = readFloats(file(dir, 'model.safetensors'));
  assert.ok(Object.keys(ema).length > 0);
  let moved = 0;
  for (const [k, e] of Object.entries(ema)) {
    for (let i = 0; i < e.data.length; i++) {
      const expected = d * w4[k].data[i] + (1 - d) * w5[k].data[i];
      assert.ok(Math.abs(e.data[i] - expected) <= 1e-6, `${k}[${i}]: ema ${e.data[i]} != ${expected}`);
      if (Math.abs(w5[k].data[i] - w4[k].data[i]) > 1e-6) moved++;
    }
  }
  assert.ok(moved > 10, 'the step changed the weights, so the check tells w4 from w5');
}

test('--reset-ema resumes with a warning and restarts the average from the checkpoint weights', async () => {
  const dir = copyOf(GAN);
  fs.rmSync(file(dir, 'ema.safetensors'));
  const w4 = readFloats(file(dir, 'model.safetensors'));
  const r = await resume(dir, '--reset-ema');
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('deepgen: warning:'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /--reset-ema: the average of the weights restarts from the weights of step 4/);
  // update t = 5: d = min(0.999, (1 + 5) / (10 + 5)) = 0.4
  assertEmaRestartedAt(w4, dir, 0.4);
});

test('an EMA switched on at resume starts from the checkpoint weights, not the initial ones', async () => {
  const dir = copyOf(VAE);
  assert.ok(!fs.existsSync(file(dir, 'ema.safetensors')));
  const w4 = readFloats(file(dir, 'model.safetensors'));
  const r = await resume(dir, '--ema', '0.5');
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning/);
  // d = min(0.5, 6 / 15) = 0.4
  assertEmaRestartedAt(w4, dir, 0.4);
});

test('an EMA switched off at resume is dropped with a warning', async () => {
  const dir = copyOf(GAN);
  const r = await resume(dir, '--ema', '0');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^deepgen: warning: ema\.safetensors in \S+ is not used: train\.ema is 0 now/m);
  assert.ok(!fs.existsSync(file(dir, 'ema.safetensors')), 'the next checkpoint keeps no average');
});
