// The public Model API on tiny random models (vae, label-conditional diffusion, pixelcnn, gan, flow): seeded bytes,
// Images shape and range, labels by index or name, one-line errors for bad labels and options, encode/decode exactly
// where a latent space is, logProb against evaluate, loading from bytes and from an HTTP URL, no tensor leaks.
import '../helpers/backend.ts';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel, Model, UserError, type Images, type ModelFiles } from '../../src/index.ts';
import { resolveRunConfig } from '../../src/core/config/run-config.ts';
import { variablesToRecords } from '../../src/core/checkpoint/format.ts';
import { encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import type { DataInfo } from '../../src/core/family.ts';
import { registry, type FamilyName } from '../../src/core/registry.ts';
import { preprocessBatch, type Preprocess } from '../../src/core/data/preprocess.ts';
import { mixSeed } from '../../src/core/tensor/rng.ts';
import { imagesToTensor255 } from '../../src/core/api/images.ts';

const INFO: DataInfo = {
  height: 8,
  width: 8,
  channels: 1,
  numClasses: 3,
  classNames: ['circle', 'square', 'triangle'],
};

/** A tiny random model of a family as checkpoint files (what a run folder holds). */
async function files(family: FamilyName, model: Record<string, unknown> = {}, seed = 3): Promise<ModelFiles> {
  const cfg = resolveRunConfig(
    family,
    [{ model: { ...registry[family].tinyPreset, ...model }, data: { dataset: 'shapes', size: 8 }, train: { seed } }],
    [],
  );
  const m = registry[family].create(cfg.model as never, INFO, seed);
  const weights = encodeSafetensors(await variablesToRecords(m.params.all()));
  m.dispose();
  return { config: { family, formatVersion: 1, config: cfg, createdBy: 'deepgen', dataInfo: INFO }, model: weights };
}

function userError(e: unknown, pattern: RegExp): boolean {
  assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes('\n'), 'one line');
  return true;
}

const pixels = (n: number, seed: number): Images => ({
  n,
  height: 8,
  width: 8,
  channels: 1,
  data: Uint8Array.from({ length: n * 64 }, (_, i) => (i * 37 + seed * 101) % 256),
});

test('sample: the same seed gives the same bytes whatever batchSize, another seed others; Images NHWC 0-255; onStep counts images; no leak', async () => {
  for (const family of ['vae', 'pixelcnn', 'gan'] as const) {
    const model = await loadModel(await files(family));
    assert.equal(model.family, family);
    const steps: string[] = [];
    const a = await model.sample({ n: 5, seed: 7, batchSize: 2, onStep: (p) => steps.push(`${p.done}/${p.total}`) });
    assert.deepEqual(steps, ['2/5', '4/5', '5/5']);
    const before = tf.memory().numTensors;
    const b = await model.sample({ n: 5, seed: 7 });
    assert.equal(tf.memory().numTensors, before, `${family}: numTensors grew`);
    const c = await model.sample({ n: 5, seed: 8 });
    assert.deepEqual({ ...a.images, data: null }, { n: 5, height: 8, width: 8, channels: 1, data: null });
    assert.equal(a.images.data.length, 5 * 64);
    assert.deepEqual(a.images.data, b.images.data, `${family}: same seed, same bytes`);
    assert.notDeepEqual(a.images.data, c.images.data, `${family}: another seed, other images`);
    model.dispose();
    await assert.rejects(model.sample({ n: 1 }), (e) => userError(e, /was disposed; load it again/));
  }
});

test('capabilities choose the methods: encode/decode where a latent space is, logProb where a likelihood is', async () => {
  const want: Record<string, [boolean, boolean, boolean]> = {
    vae: [true, true, true],
    ae: [true, true, false],
    gan: [true, false, false],
    flow: [true, true, true],
    pixelcnn: [false, false, true],
    diffusion: [false, false, true],
    oneshot: [false, false, false],
  };
  for (const [family, [latent, encoder, likelihood]] of Object.entries(want)) {
    const model = await loadModel(await files(family as FamilyName));
    const c = model.capabilities;
    assert.deepEqual([c.latent, c.encoder, c.likelihood], [latent, encoder, likelihood], family);
    assert.equal(typeof model.decode === 'function', latent, `${family} decode`);
    assert.equal(typeof model.encode === 'function', encoder, `${family} encode`);
    assert.equal(typeof model.logProb === 'function', likelihood, `${family} logProb`);
    assert.deepEqual(c.samplingOptions, registry[family as FamilyName].samplingOptions ?? []);
    model.dispose();
  }
});

test('labels by index or class name (case-insensitive), cycled; a bad label or option is a one-line UserError', async () => {
  const model = await loadModel(await files('diffusion', { cond: { kind: 'label', dim: 16 } }));
  assert.equal(model.capabilities.conditioning, 'label');
  assert.deepEqual(model.capabilities.classNames, INFO.classNames);
  const byName = await model.sample({ n: 2, seed: 1, label: ['Square', 'triangle'], steps: 3 });
  const byIndex = await model.sample({ n: 2, seed: 1, label: [1, '2'], steps: 3 });
  assert.deepEqual(byName.images.data, byIndex.images.data);
  await assert.rejects(model.sample({ n: 1, label: 'hexagon' }), (e) =>
    userError(e, /label "hexagon" is not a class of this model; use 0\.\.2 or one of: circle, square, triangle/),
  );
  await assert.rejects(model.sample({ n: 1, label: 3 }), (e) =>
    userError(e, /label 3 is out of range: this model has 3 classes/),
  );
  await assert.rejects(model.sample({ n: 1, prompt: 'a red circle' }), (e) =>
    userError(e, /not text-conditional, so a prompt does not apply/),
  );
  await assert.rejects(model.sample({ n: 1, temperature: 0.5 }), (e) =>
    userError(e, /temperature does not apply to this diffusion model; it takes guidance, steps, sampler, eta/),
  );
  await assert.rejects(model.sample({ n: 1, steps: 0 }), (e) =>
    userError(e, /steps must be a positive integer, got 0/),
  );
  await assert.rejects(model.sample({ n: 1, guidance: Number.NaN }), (e) =>
    userError(e, /guidance must be a finite number/),
  );
  await assert.rejects(model.sample({ n: 0 }), (e) => userError(e, /n must be a positive integer, got 0/));
  model.dispose();
  const vae = await loadModel(await files('vae'));
  await assert.rejects(vae.sample({ n: 1, label: 1 }), (e) =>
    userError(e, /this vae model is not label-conditional, so a label does not apply/),
  );
  await assert.rejects(vae.sample({ n: 1, guidance: 2 }), (e) =>
    userError(e, /guidance does not apply to this vae model; it takes no sampler options/),
  );
  vae.dispose();
});

test('encode then decode: codes [n, dim], images back at the model size; bad codes or image sizes are one-line errors; no leak', async () => {
  const model = await loadModel(await files('vae'));
  const x = pixels(3, 1);
  const codes = await model.encode!(x);
  assert.equal(codes.n, 3);
  assert.equal(codes.data.length, 3 * codes.dim);
  const before = tf.memory().numTensors;
  const { images } = await model.decode!(codes, { batchSize: 2 });
  await model.encode!(x);
  assert.equal(tf.memory().numTensors, before, 'numTensors grew');
  assert.deepEqual([images.n, images.height, images.width, images.channels], [3, 8, 8, 1]);
  await assert.rejects(model.decode!({ ...codes, dim: codes.dim + 1 }), (e) =>
    userError(e, /codes have \d+ numbers each, this model's latent space has \d+/),
  );
  await assert.rejects(model.encode!({ ...x, height: 4, data: x.data.subarray(0, 3 * 32) }), (e) =>
    userError(e, /images are 4x8x1, this model works on 8x8x1 images; resize them first/),
  );
  model.dispose();
});

test('logProb: per-image nats whose mean is evaluate()s figure on the same preprocessed images; typed kind; no leak', async () => {
  for (const [family, kind, name] of [
    ['pixelcnn', 'exact', 'exact'],
    ['vae', 'bound', '-ELBO'],
  ] as const) {
    const f = await files(family);
    const model = await loadModel(f);
    const x = pixels(4, 2);
    const lp = await model.logProb!(x, { seed: 3 });
    assert.equal(lp.nats.length, 4);
    assert.deepEqual([lp.kind, lp.name], [kind, name]);
    // the same figures through the family's evaluate, as `deepgen eval` calls it (fixed test preprocessing seed)
    const ref = new Model((await import('../../src/core/api/load.ts')).modelFromFiles(f, 'ref'));
    const inner = (ref as unknown as { model: import('../../src/core/family.ts').GenerativeModel }).model;
    const xt = tf.tidy(() =>
      preprocessBatch(
        imagesToTensor255(x),
        ref.config.data.preprocess as Preprocess,
        mixSeed(ref.config.data.testSeed, 7),
      ),
    );
    const r = inner.evaluate!([{ x: xt, y: null }], { iwaeK: 0, seed: 3 });
    const mean = lp.nats.reduce((a, b) => a + b, 0) / 4;
    assert.ok(
      Math.abs(mean - r.likelihood!.nats) < 1e-4 * Math.abs(mean),
      `${family}: ${mean} vs ${r.likelihood!.nats}`,
    );
    assert.ok(Math.abs(lp.bitsPerDim - r.likelihood!.bitsPerDim) < 1e-6);
    xt.dispose();
    ref.dispose();
    const before = tf.memory().numTensors;
    const again = await model.logProb!(x, { seed: 3 });
    assert.equal(tf.memory().numTensors, before, `${family}: numTensors grew`);
    assert.deepEqual(again.nats, lp.nats, 'seeded');
    model.dispose();
  }
});

test('loadModel from a folder URL (node:http) gives the same model as from bytes; a missing folder is a one-line error', async () => {
  const f = await files('pixelcnn');
  const served: Record<string, Uint8Array> = {
    '/runs/pix/config.json': new TextEncoder().encode(JSON.stringify(f.config)),
    '/runs/pix/model.safetensors': f.model,
  };
  const server = http.createServer((req, res) => {
    const body = served[req.url ?? ''];
    res.writeHead(body ? 200 : 404).end(body ? Buffer.from(body) : 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const fromUrl = await loadModel(`http://127.0.0.1:${port}/runs/pix`);
    const fromBytes = await loadModel(f);
    assert.equal(fromUrl.usedEma, false, 'no ema.safetensors (404) is fine');
    assert.deepEqual(
      (await fromUrl.sample({ n: 2, seed: 4 })).images.data,
      (await fromBytes.sample({ n: 2, seed: 4 })).images.data,
    );
    fromUrl.dispose();
    fromBytes.dispose();
    await assert.rejects(loadModel(`http://127.0.0.1:${port}/runs/none/`), (e) =>
      userError(e, /cannot fetch http:\/\/127\.0\.0\.1:\d+\/runs\/none\/config\.json: HTTP 404/),
    );
  } finally {
    server.close();
  }
  await assert.rejects(loadModel({ ...f, model: f.model.subarray(0, 20) }), (e) =>
    userError(e, /model\.safetensors of the given files/),
  );
});
