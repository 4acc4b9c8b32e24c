// Runs on a data set without an evaluation classifier (folder:PATH): `eval --metrics fid` and `cond-eval` fail in one
// line naming the data sets that have one (exit 2, before any work); plain `eval` still gives the likelihood and says in
// one line that sample quality was skipped; a family without a likelihood has nothing to evaluate.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { PNG } from 'pngjs';
import { assertUserError, runCli } from '../helpers/cli.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-no-clf-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const env = { ...process.env, DEEPGEN_CACHE: path.join(TMP, 'cache') };
const cli = (args: string[]) => runCli(args, { cwd: TMP, env });

/** A folder with two class subfolders of ten 8x8 RGB images each (noise around a class colour). */
function writeFolder(dir: string): void {
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (const [cls, base] of [
    ['red', [220, 40, 40]],
    ['blue', [40, 40, 220]],
  ] as const) {
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const png = new PNG({ width: 8, height: 8 });
      for (let p = 0; p < 64; p++) {
        for (let c = 0; c < 3; c++) png.data[p * 4 + c] = Math.max(0, Math.min(255, base[c] + (rand() % 60) - 30));
        png.data[p * 4 + 3] = 255;
      }
      fs.writeFileSync(path.join(dir, cls, `${i}.png`), PNG.sync.write(png));
    }
  }
}

const CLASSIFIERS = /classifiers exist for fashion-mnist, shapes, emoji \(also emoji-google, emoji-twitter\)/;

test('e2e: a folder: run has no classifier: eval --metrics fid and cond-eval fail in one line, eval reports nll and the skip (~15 s)', async () => {
  const data = path.join(TMP, 'pics');
  writeFolder(data);
  const common = ['--dataset', `folder:${data}`, '--size', '8', '--steps', '2', '--batch-size', '8', '--quiet'];
  const vae = path.join(TMP, 'vae');
  const gan = path.join(TMP, 'gan');
  const [tv, tg] = await Promise.all([
    cli(['train', 'vae', ...common, '--cond', 'label', '--hidden', '16', '--latent', '2', '--out', vae]),
    cli(['train', 'gan', ...common, '--set', 'model.arch=mlp', '--set', 'model.hidden=16', '--out', gan]),
  ]);
  assert.equal(tv.code, 0, tv.stderr);
  assert.equal(tg.code, 0, tg.stderr);
  const folder = `data set "folder:${data}"`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

  const [fid, cond, plain, ganEval, nll] = await Promise.all([
    cli(['eval', vae, '--metrics', 'nll,fid']),
    cli(['cond-eval', vae, '--n', '10']),
    cli(['eval', vae]),
    cli(['eval', gan]),
    cli(['eval', vae, '--metrics', 'nll', '--json']),
  ]);
  assertUserError(
    fid,
    /^deepgen: error: Measuring FID, KID and precision\/recall needs deepgen's evaluation classifier, and there is none for /,
    new RegExp(folder),
    CLASSIFIERS,
    /; use --metrics nll\.$/,
  );
  assert.equal(fid.stdout, '', 'nothing computed before the error');
  assertUserError(cond, /^deepgen: error: Conditional evaluation needs deepgen's evaluation classifier/, CLASSIFIERS);
  assert.ok(!fs.existsSync(path.join(vae, 'cond-eval.json')));
  assertUserError(
    ganEval,
    /the gan family has no likelihood either, so deepgen eval has nothing to measure/,
    CLASSIFIERS,
  );

  // default metrics: the likelihood, and one line saying sample quality was skipped and why
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /-log p\(x\), -ELBO bound/);
  const skip = plain.stdout.split('\n').filter((l) => /skipped/.test(l));
  assert.equal(skip.length, 1, plain.stdout);
  assert.match(skip[0], /sample quality \(fid, kid, pr\): skipped, no evaluation classifier for /);
  assert.match(skip[0], new RegExp(folder));
  assert.match(skip[0], CLASSIFIERS);
  // asked for nll only: no note, and the JSON is the likelihood
  assert.equal(nll.code, 0, nll.stderr);
  assert.ok(JSON.parse(nll.stdout).likelihood.bitsPerDim > 0);
});
