// deepgen pack: a run as a shareable model folder. Float16 weights that load back as float32 and sample like the run,
// the EMA when kept, a manifest of sha256s that the downloader checks, a model card with the notes and figures, figures
// kept across a re-pack of the same weights and dropped when the weights change, and one-line errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '../helpers/backend.ts';
import { decodeSafetensors, recordToFloat32 } from '../../src/core/checkpoint/safetensors.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-store.ts';
import { loadModel } from '../../src/node/load-model.ts';
import { fmtSeconds, packModel } from '../../src/node/pack.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';

let tmp: string;
let run: string;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-pack-'));
  run = await trainTinyRun('diffusion', path.join(tmp, 'run'), {
    model: { cond: { kind: 'text' } },
    train: { ema: 0.9, lr: 0.01, warmupSteps: 0 },
    steps: 12,
  });
  fs.writeFileSync(
    path.join(run, 'cond-eval.json'),
    JSON.stringify({ seen: { both: 0.5, n: 10 }, heldOut: { both: 0.25, n: 10 }, guidance: 3 }),
  );
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const tensorsOf = (file: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(file))).tensors;

test('pack writes float16 EMA weights, a manifest that matches, and a card with notes and figures', () => {
  const out = path.join(tmp, 'packed');
  const r = packModel(run, out, { notes: '## Limits\n\nA tiny test model.', name: 'tiny' });
  assert.equal(r.weights, 'ema');
  const ck = loadCheckpoint(run);
  const packed = tensorsOf(path.join(out, 'model.safetensors'));
  assert.deepEqual(Object.keys(packed).sort(), Object.keys(ck.ema!).sort());
  // the EMA differs from the raw weights (so the check below tells which were packed)
  const apart = Object.keys(ck.ema!).some((k) => {
    const e = recordToFloat32(ck.ema![k]);
    const w = recordToFloat32(ck.weights[k]);
    return e.some((v, i) => Math.abs(v - w[i]) > 1e-3 * (1 + Math.abs(v)));
  });
  assert.ok(apart, "the tiny run's EMA equals its weights");
  for (const [name, rec] of Object.entries(packed)) {
    assert.equal(rec.dtype, 'F16', name);
    const want = recordToFloat32(ck.ema![name]);
    const got = recordToFloat32(rec);
    // the EMA's values, not the raw weights', each within float16's rounding
    want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= Math.abs(v) * 2 ** -11 + 2 ** -24, `${name}[${i}]`));
  }
  const bytes = fs.statSync(path.join(out, 'model.safetensors')).size;
  assert.ok(bytes < fs.statSync(path.join(run, 'ema.safetensors')).size * 0.6, 'float16 halves the weights');
  assert.ok(
    !fs.existsSync(path.join(out, 'optimizer.safetensors')) && !fs.existsSync(path.join(out, 'ema.safetensors')),
  );
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).files;
  for (const f of fs.readdirSync(out).filter((f) => f !== 'manifest.json')) {
    const b = fs.readFileSync(path.join(out, f));
    assert.equal(manifest[f]?.sha256, crypto.createHash('sha256').update(b).digest('hex'), f);
  }
  const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
  assert.match(card, /^# tiny/);
  assert.match(card, /text-conditional \*\*diffusion\*\*/);
  assert.match(card, /## Limits\n\nA tiny test model\./);
  assert.match(card, /\*\*50\.0%\*\* on 10 prompts of pairs seen in training, \*\*25\.0%\*\* on 10 held-out pairs/);
  assert.match(card, /deepgen's own `shapes` data/);
});

test('a packed model loads as float32 and samples what the run samples, to float16 rounding', async () => {
  const out = path.join(tmp, 'packed-sample');
  packModel(run, out);
  const a = await loadModel(run);
  const b = await loadModel(out);
  try {
    const opts = { n: 4, seed: 3, steps: 5, prompt: 'a large red circle in the center' };
    const x = (await a.sample(opts)).images.data;
    const y = (await b.sample(opts)).images.data;
    let max = 0;
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
    assert.ok(max <= 3, `pixels differ by up to ${max} of 255`);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('re-packing the same weights keeps the figures measured on the packed folder; new weights drop them', async () => {
  const out = path.join(tmp, 'repack');
  packModel(run, out);
  fs.writeFileSync(
    path.join(out, 'eval.json'),
    JSON.stringify({ n: 8, likelihood: { bitsPerDim: 7.5, kind: 'bound', name: 'VLB', nats: 1, discrete: true } }),
  );
  const r = packModel(run, out, { notes: '## Limits\n\nnone' });
  assert.ok(r.keptFigures);
  assert.match(
    fs.readFileSync(path.join(out, 'README.md'), 'utf8'),
    /\*\*7\.500 bits\/dim\*\* \(VLB bound\) on 8 test images/,
  );
  assert.ok(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).files['eval.json']);
  await loadModel(out).then((m) => m.dispose()); // still one whole save
  // a config changed after training (e.g. the default sampler switched) reaches the packed folder on a re-pack
  const cfgFile = path.join(run, 'config.json');
  const original = fs.readFileSync(cfgFile, 'utf8');
  const edited = JSON.parse(original);
  edited.config.model.guidance = 2.5;
  fs.writeFileSync(cfgFile, JSON.stringify(edited));
  try {
    assert.ok(packModel(run, out).keptFigures);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).config.model.guidance, 2.5);
    const m = await loadModel(out); // the kept weights and the new config are still one whole save
    assert.equal((m.config.model as { guidance: number }).guidance, 2.5);
    m.dispose();
  } finally {
    fs.writeFileSync(cfgFile, original);
  }
  const r2 = packModel(run, out, { useEma: false }); // other weights: the packed folder's figures are not theirs
  assert.equal(r2.weights, 'model');
  assert.ok(!r2.keptFigures);
  assert.ok(!fs.existsSync(path.join(out, 'eval.json')));
});

test('--float32 keeps the trained precision; errors are one line with exit 2', async () => {
  const out = path.join(tmp, 'f32');
  const r = await runCli(['pack', run, out, '--float32'], { cwd: tmp });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Packed .* parameters \(EMA weights\)/);
  for (const rec of Object.values(tensorsOf(path.join(out, 'model.safetensors')))) assert.equal(rec.dtype, 'F32');
  assertUserError(await runCli(['pack', path.join(tmp, 'nope'), out], { cwd: tmp }), /No checkpoint at .*nope/);
  assertUserError(await runCli(['pack', run, run], { cwd: tmp }), /other than the run folder/);
  assertUserError(
    await runCli(['pack', run, out, '--notes', path.join(tmp, 'missing.md')], { cwd: tmp }),
    /Cannot read --notes/,
  );
});

test("a GAN's EMA covers G only: the packed folder holds G's EMA and D's raw weights, and loads", async () => {
  const gan = await trainTinyRun('gan', path.join(tmp, 'gan'), { train: { ema: 0.9 }, steps: 3 });
  const ck = loadCheckpoint(gan);
  assert.ok(Object.keys(ck.ema!).length < Object.keys(ck.weights).length, 'the tiny GAN keeps a partial EMA');
  const out = path.join(tmp, 'gan-packed');
  const r = packModel(gan, out);
  assert.equal(r.weights, 'ema');
  const packed = tensorsOf(path.join(out, 'model.safetensors'));
  assert.deepEqual(Object.keys(packed).sort(), Object.keys(ck.weights).sort());
  for (const [name, rec] of Object.entries(packed)) {
    const want = recordToFloat32((ck.ema![name] ?? ck.weights[name])!);
    const got = recordToFloat32(rec);
    want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= Math.abs(v) * 2 ** -11 + 2 ** -24, `${name}[${i}]`));
  }
  const m = await loadModel(out);
  assert.equal((await m.sample({ n: 2, seed: 1 })).images.n, 2);
  m.dispose();
});

test('durations round to whole seconds before splitting minutes', () => {
  assert.equal(fmtSeconds(479.6), '8m00s');
  assert.equal(fmtSeconds(59.4), '59 s');
  assert.equal(fmtSeconds(59.6), '1m00s');
  assert.equal(fmtSeconds(906.2), '15m06s');
});
