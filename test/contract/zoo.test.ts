// The shipped zoo (models/): every reference model is there, within the size budget, with float16 weights, a model
// card with figures, and a manifest that matches its files; each one loads by zoo:NAME and samples deterministically
// without leaking tensors; the demo draws them all; fine-tuning from a zoo model trains.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { loadModel } from '../../src/node/load-model.ts';
import { ZOO_DIR, zooNames } from '../../src/node/model-source.ts';
import { decodeSafetensors, recordToFloat32, safetensorsHeader } from '../../src/core/checkpoint/safetensors.ts';
import { readSafetensorsHead } from '../../src/node/checkpoint-store.ts';
import { zooEntries } from '../../src/node/zoo.ts';
import { decodePng, writePng } from '../../src/node/png.ts';
import { runCli, startServe } from '../helpers/cli.ts';

const names = zooNames();
const cfgOf = (name: string) =>
  JSON.parse(fs.readFileSync(path.join(ZOO_DIR, name, 'config.json'), 'utf8')) as {
    family: string;
    config: { model: { cond?: { kind?: string }; likelihood?: string }; data: { dataset: string } };
  };

test('the zoo holds one model of every reference kind, within 40 MB, and ships in the npm package', () => {
  const kinds = names.map((n) => {
    const c = cfgOf(n);
    return `${c.family}/${c.config.model.cond?.kind ?? 'none'}/${c.config.data.dataset}${c.config.model.likelihood ? `/${c.config.model.likelihood}` : ''}`;
  });
  for (const want of [
    'vae/none/fashion-mnist/logistic',
    'diffusion/label/fashion-mnist',
    'diffusion/text/shapes',
    'gan/none/fashion-mnist',
    'gan/label/fashion-mnist',
  ])
    assert.ok(kinds.includes(want), `no ${want} model in the zoo: ${kinds.join(', ')}`);
  for (const family of ['pixelcnn', 'igpt', 'flow', 'oneshot'])
    assert.ok(
      kinds.some((k) => k.startsWith(`${family}/`)),
      `no ${family} model in the zoo`,
    );
  let bytes = 0;
  for (const n of names)
    for (const f of fs.readdirSync(path.join(ZOO_DIR, n))) bytes += fs.statSync(path.join(ZOO_DIR, n, f)).size;
  assert.ok(bytes <= 40e6, `models/ holds ${(bytes / 1e6).toFixed(1)} MB, over the 40 MB budget`);
  const pkg = JSON.parse(fs.readFileSync(path.join(ZOO_DIR, '..', 'package.json'), 'utf8')) as { files: string[] };
  assert.ok(pkg.files.includes('models'), 'package.json "files" must include models');
  // the first model of zoo.json is the one the playground opens on
  assert.equal(names[0], JSON.parse(fs.readFileSync(path.join(ZOO_DIR, 'zoo.json'), 'utf8')).models[0]);
});

for (const name of names) {
  describe(`zoo:${name}`, () => {
    const dir = path.join(ZOO_DIR, name);
    test('float16 weights, a manifest that matches every file, and a model card with its figures', () => {
      const { header } = safetensorsHeader(readSafetensorsHead(path.join(dir, 'model.safetensors')), name);
      const dtypes = new Set(
        Object.entries(header)
          .filter(([k]) => k !== '__metadata__')
          .map(([, v]) => (v as { dtype: string }).dtype),
      );
      assert.ok(dtypes.has('F16') && !dtypes.has('F32') && !dtypes.has('F64'), `dtypes ${[...dtypes]}`);
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
        files: Record<string, { size: number; sha256: string }>;
      };
      for (const f of ['config.json', 'model.safetensors', 'README.md']) assert.ok(manifest.files[f], f);
      for (const f of fs.readdirSync(dir))
        if (f !== 'manifest.json') assert.ok(manifest.files[f], `${f} is not in the manifest`);
      for (const [f, m] of Object.entries(manifest.files)) {
        const b = fs.readFileSync(path.join(dir, f));
        assert.equal(b.length, m.size, f);
        assert.equal(crypto.createHash('sha256').update(b).digest('hex'), m.sha256, `${f} changed after packing`);
      }
      const card = fs.readFileSync(path.join(dir, 'README.md'), 'utf8');
      for (const h of ['## Data', '## Training', '## Figures', '## Limits'])
        assert.ok(card.includes(h), `card lacks ${h}`);
      assert.match(card, /deepgen train \w+/, 'the card gives the command that trained it');
      assert.doesNotMatch(card, /Not evaluated yet/);
      const entry = zooEntries().find((e) => e.name === name)!;
      assert.ok(entry.row, entry.error);
      assert.ok(
        entry.row!.likelihood.bitsPerDim !== null || entry.row!.condAccuracy || entry.row!.sampleQuality,
        'no figure in eval.json or cond-eval.json',
      );
    });

    test('loads by zoo:NAME and samples: shape, range, the same seed gives the same images, no leak', async () => {
      const m = await loadModel(`zoo:${name}`);
      try {
        const opts = {
          n: 2,
          ...(m.capabilities.samplingOptions.includes('steps') ? { steps: 4 } : {}),
          ...(m.capabilities.conditioning === 'label' ? { label: [0, 1] } : {}),
          ...(m.capabilities.conditioning === 'text' ? { prompt: 'a large red circle in the center' } : {}),
        };
        const before = tf.memory().numTensors;
        const a = await m.sample({ ...opts, seed: 7 });
        const b = await m.sample({ ...opts, seed: 7 });
        assert.equal(tf.memory().numTensors, before);
        assert.deepEqual(
          [a.images.n, a.images.height, a.images.width, a.images.channels],
          [2, m.info.height, m.info.width, m.info.channels],
        );
        assert.deepEqual(a.images.data, b.images.data);
        assert.ok(new Set(a.images.data).size > 1, 'a constant image');
      } finally {
        m.dispose();
      }
    });
  });
}

test('deepgen demo draws a picture of every zoo model and the one-shot comparison, with index.html', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-demo-'));
  try {
    const r = await runCli(['demo', '--out', out, '--steps', '10'], { cwd: out, timeout: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
    const pngs = fs.readdirSync(out).filter((f) => f.endsWith('.png'));
    for (const name of names) {
      if (cfgOf(name).family === 'oneshot') continue;
      assert.ok(pngs.includes(`${name}.png`), `no picture of ${name}`);
      assert.ok(html.includes(`${name}.png`), `index.html does not show ${name}`);
    }
    assert.ok(pngs.includes('one-shot-vs-sampling.png'));
    for (const f of pngs) decodePng(fs.readFileSync(path.join(out, f)), f);
    assert.match(r.stdout, /npx deepgen serve/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('fine-tuning: deepgen train --init zoo:vae-fmnist on a folder of colour images trains from the zoo weights', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-zoo-init-'));
  try {
    const pics = path.join(tmp, 'pics');
    fs.mkdirSync(pics);
    for (let i = 0; i < 24; i++) {
      // 40x40 RGB stripes: read at the model's 28x28x1
      const data = new Uint8Array(40 * 40 * 3).map((_, j) => ((Math.floor(j / 120) + i) % 8) * 32);
      writePng(path.join(pics, `${i}.png`), { height: 40, width: 40, channels: 3, data });
    }
    const out = path.join(tmp, 'tuned');
    const r = await runCli(
      [
        'train',
        '--init',
        'zoo:vae-fmnist',
        '--dataset',
        `folder:${pics}`,
        '--steps',
        '3',
        '--batch-size',
        '8',
        '--out',
        out,
        '--quiet',
      ],
      { cwd: tmp },
    );
    assert.equal(r.code, 0, r.stderr);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.init.spec, 'zoo:vae-fmnist');
    assert.deepEqual([cfg.dataInfo.height, cfg.dataInfo.width, cfg.dataInfo.channels], [28, 28, 1]);
    assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'state.json'), 'utf8')).step, 3);
    // 3 Adam steps of lr 1e-3 move each weight by at most ~3e-3: the run started from the zoo's weights
    const zoo = decodeSafetensors(
      new Uint8Array(fs.readFileSync(path.join(ZOO_DIR, 'vae-fmnist', 'model.safetensors'))),
    ).tensors;
    const tuned = decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(out, 'model.safetensors')))).tensors;
    let moved = 0;
    for (const [k, rec] of Object.entries(zoo)) {
      const a = recordToFloat32(rec);
      const b = recordToFloat32(tuned[k]);
      a.forEach((v, i) => {
        const d = Math.abs(v - b[i]);
        assert.ok(d < 5e-3, `${k}[${i}] moved ${d}: not started from the zoo weights`);
        moved = Math.max(moved, d);
      });
    }
    assert.ok(moved > 0, 'training changed nothing');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('deepgen serve with no arguments serves the zoo, first the model of zoo.json, then runs/* of the folder', async () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-zoo-serve-'));
  fs.mkdirSync(path.join(cwd, 'runs'));
  fs.cpSync(path.join(ZOO_DIR, names[names.length - 1]), path.join(cwd, 'runs', 'mine'), { recursive: true });
  const { url: served, child } = await startServe([], { cwd });
  try {
    const list = (await (await fetch(served + 'api/runs')).json()) as { runs: { id: string; dir: string }[] };
    assert.deepEqual(
      list.runs.map((r) => r.dir),
      [...names.map((n) => `zoo:${n}`), path.join('runs', 'mine')],
    );
    const first = list.runs[0];
    const cfg = await fetch(`${served}runs/${first.id}/config.json`);
    assert.equal(cfg.status, 200);
  } finally {
    child.kill();
    fs.rmSync(cwd, { recursive: true, force: true });
  }
});
