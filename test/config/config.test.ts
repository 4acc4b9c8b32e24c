// Typed configs: defaults resolve, unknown keys and bad values are one-line errors, --set overrides apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRunConfig } from '../../src/node/run-config.ts';
import { applySets } from '../../src/core/config/overrides.ts';
import { userError } from '../helpers/assert.ts';

const err = userError;

test('defaults resolve to the issue reference VAE', () => {
  const c = resolveRunConfig('vae', [], []);
  assert.deepEqual(c.model.hidden, [512, 256]);
  assert.equal(c.model.latent, 20);
  assert.equal(c.model.likelihood, 'bernoulli');
  assert.equal(c.data.dataset, 'fashion-mnist');
  assert.equal(c.data.preprocess, 'binarize-dynamic');
  assert.equal(c.train.batchSize, 128);
  assert.equal(c.train.lr, 1e-3);
  assert.equal(c.train.epochs, 10);
});

test('--set overrides nested keys with parsed values', () => {
  const c = resolveRunConfig(
    'vae',
    [],
    ['model.latent=2', 'train.lr=5e-4', 'model.hidden=[64,32]', 'data.dataset=shapes'],
  );
  assert.equal(c.model.latent, 2);
  assert.equal(c.train.lr, 5e-4);
  assert.deepEqual(c.model.hidden, [64, 32]);
  assert.equal(c.data.dataset, 'shapes');
  assert.deepEqual(applySets({}, ['a.b.c=true', 'x=hello']), { a: { b: { c: true } }, x: 'hello' });
});

test('unknown keys are errors, not warnings', () => {
  err(() => resolveRunConfig('vae', [{ model: { latnet: 3 } }], []), /unknown key model\.latnet/);
  err(() => resolveRunConfig('vae', [], ['train.learningRate=1']), /unknown key train\.learningRate/);
  err(() => resolveRunConfig('vae', [{ extra: 1 }], []), /unknown key extra/);
});

test('bad values name the key', () => {
  err(() => resolveRunConfig('vae', [], ['train.lr=abc']), /train\.lr/);
  err(() => resolveRunConfig('vae', [], ['model.likelihood=poisson']), /model\.likelihood/);
  err(() => resolveRunConfig('vae', [], ['model.latent=0']), /model\.latent/);
  err(() => resolveRunConfig('vqvae', [], []), /Unknown model family "vqvae"; available: vae, ae, .*gan/);
  err(() => applySets({}, ['novalue']), /expected key=value/);
});
