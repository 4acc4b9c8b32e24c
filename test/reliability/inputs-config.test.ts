// Bad configs, checkpoints and flags are one-line UserErrors (issue 19, items 8 and 10): prototype keys anywhere,
// inherited family names, a null config section, damaged dataInfo, out-of-range seeds, --epochs 0, NaN weights, and
// models too large to allocate, checked before anything is allocated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from 'commander';
import '../helpers/backend.ts';
import { floatOpt, seedOpt } from '../../src/cli/common.ts';
import { assignRecords, parseCheckpointConfig } from '../../src/core/checkpoint/format.ts';
import { modelFromCheckpoint } from '../../src/core/checkpoint/load-model.ts';
import { applySets } from '../../src/core/config/overrides.ts';
import { resolveRunConfig } from '../../src/core/config/run-config.ts';
import { ParamStore } from '../../src/core/nn/params.ts';
import { getFamily, registry } from '../../src/core/registry.ts';
import { userError } from '../helpers/assert.ts';

const polluted = () =>
  Object.getOwnPropertyNames(Object.prototype).filter((k) => ['x', 'latent', 'polluted'].includes(k));

test('--set with a prototype key anywhere is an error and leaves Object.prototype alone', () => {
  for (const set of [
    '__proto__.x=1',
    'model.__proto__.latent=3',
    'constructor.prototype.polluted=1',
    'train.constructor=1',
    'data.prototype=2',
  ]) {
    userError(
      () => resolveRunConfig('vae', [], [set]),
      /Invalid config key "(__proto__|constructor|prototype)" in --set .*; remove it$/,
    );
    assert.deepEqual(polluted(), [], `--set ${set} changed Object.prototype`);
  }
  userError(() => applySets({}, ['model={"__proto__":{"latent":3}}']), /Invalid config key "__proto__" in --set model/);
  assert.deepEqual(polluted(), []);
});

test('config layers (a --config file, a checkpoint) with a prototype key are an error, not a silently changed prototype', () => {
  // JSON.parse makes "__proto__" an own key; merging it would have set the model section's prototype (latent 3, unseen by zod)
  userError(
    () => resolveRunConfig('vae', [JSON.parse('{"model":{"__proto__":{"latent":3}}}')], [], 'config.json'),
    /Invalid config key "__proto__" in config\.json/,
  );
  userError(
    () => resolveRunConfig('vae', [JSON.parse('{"train":{"constructor":{"prototype":1}}}')], [], 'x.json'),
    /"constructor"/,
  );
  const text = JSON.stringify({ family: 'vae', formatVersion: 1, createdBy: 'deepgen', config: {} }).replace(
    '"config":{}',
    '"config":{"data":{"__proto__":{"x":1}}}',
  );
  userError(
    () => parseCheckpointConfig(text, 'config.json in run'),
    /^Invalid config key "__proto__" in config\.json in run/,
  );
});

test('--set changes the resolved config only, never the family defaults or the given layers (found by the seed test)', () => {
  const layer = { model: { cond: { kind: 'label' } } };
  resolveRunConfig('vae', [layer], ['data.testSeed=7', 'model.cond.dim=8', 'train.lr=0.5']);
  assert.deepEqual(layer, { model: { cond: { kind: 'label' } } });
  const fresh = resolveRunConfig('vae', [], []);
  assert.deepEqual([fresh.data.testSeed, fresh.train.lr], [0, 1e-3]);
});

test('family names are own registry keys: __proto__, toString and constructor are unknown families', () => {
  for (const name of ['__proto__', 'toString', 'constructor', 'hasOwnProperty']) {
    userError(() => getFamily(name), new RegExp(`^Unknown model family "${name}"; available: vae`));
    userError(() => resolveRunConfig(name, [], []), /Unknown model family/);
  }
});

test('a checkpoint config.json whose config section is null, an array or a string is damaged, not an internal error', () => {
  for (const bad of [null, [], 'vae', 3]) {
    const text = JSON.stringify({ family: 'vae', formatVersion: 1, createdBy: 'deepgen', config: bad });
    userError(
      () => parseCheckpointConfig(text, 'config.json in runs/x'),
      /^config\.json in runs\/x has a "config" section that is .*, not an object; the checkpoint is damaged/,
    );
  }
  userError(() => resolveRunConfig('vae', [null as never], [], 'config.json'), /expected a JSON object .* got null/);
});

/** A checkpoint's config.json for a tiny VAE on 16x16 RGB images, with dataInfo fields replaced. */
function vaeCheckpoint(dataInfo: Record<string, unknown>) {
  const config = resolveRunConfig(
    'vae',
    [{ model: registry.vae.tinyPreset, data: { dataset: 'shapes', size: 16 } }],
    [],
  );
  return {
    family: 'vae',
    formatVersion: 1 as const,
    createdBy: 'deepgen' as const,
    config,
    dataInfo: { height: 16, width: 16, channels: 3, numClasses: 0, ...dataInfo },
  };
}

test('damaged dataInfo (height 100000, a string, channels 2, bad class names) is named before any model is built', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ height: 100000 }, /dataInfo\.height 100000, expected an integer from 1 to 4096/],
    [{ height: '16' }, /dataInfo\.height "16", expected an integer/],
    [{ width: 0 }, /dataInfo\.width 0/],
    [{ width: 2.5 }, /dataInfo\.width 2\.5/],
    [{ channels: 2 }, /dataInfo\.channels 2, expected 1 or 3/],
    [{ numClasses: -1 }, /dataInfo\.numClasses -1/],
    [{ numClasses: 2, classNames: ['a'] }, /dataInfo\.classNames \["a"\], expected 2 class names/],
    [{ vocabulary: 'red circle' }, /dataInfo\.vocabulary "red circle"/],
  ];
  const before = tf.memory().numTensors;
  for (const [info, pattern] of cases) {
    userError(
      () => modelFromCheckpoint(vaeCheckpoint(info), {}, undefined, 'runs/x'),
      new RegExp(`^config\\.json in runs/x has ${pattern.source}.*the checkpoint is damaged`),
    );
  }
  userError(
    () => modelFromCheckpoint({ ...vaeCheckpoint({}), dataInfo: undefined }, {}, undefined, 'runs/x'),
    /has no dataInfo/,
  );
  assert.equal(tf.memory().numTensors, before, 'no model was built');
});

test('seeds are integers 0..2^32-1 in the config and on the command line (2^32 used to repeat seed 1)', () => {
  for (const seed of [2 ** 32, -1, 1.5]) {
    userError(() => resolveRunConfig('vae', [], [`train.seed=${seed}`]), /train\.seed/);
    userError(() => resolveRunConfig('vae', [], [`data.testSeed=${seed}`]), /data\.testSeed/);
  }
  assert.equal(resolveRunConfig('vae', [], ['train.seed=4294967295']).train.seed, 4294967295);
  const parse = seedOpt();
  assert.equal(parse('4294967295'), 4294967295);
  assert.equal(parse('0'), 0);
  for (const bad of ['4294967296', '-1', '1.5', '1e3', '', 'x'])
    assert.throws(() => parse(bad), InvalidArgumentError, `--seed ${bad}`);
});

test('--epochs 0 is rejected (it used to train one step), in flags and in configs', () => {
  const epochs = floatOpt('--epochs', 0, true);
  assert.throws(() => epochs('0'), /--epochs must be a number > 0, got "0"/);
  assert.equal(epochs('0.5'), 0.5);
  userError(() => resolveRunConfig('vae', [], ['train.epochs=0']), /train\.epochs/);
});

test('NaN or infinite weights are reported at load, naming the tensors, and no variable is changed', () => {
  const vars = {
    a: tf.variable(tf.tensor1d([1, 2, 3])),
    b: tf.variable(tf.tensor1d([4, 5])),
    n: tf.variable(tf.tensor1d([1], 'int32')),
  };
  const recs = {
    a: { dtype: 'F32' as const, shape: [3], data: new Float32Array([0, 0, 0]) },
    b: { dtype: 'F32' as const, shape: [2], data: new Float32Array([NaN, Infinity]) },
    n: { dtype: 'I32' as const, shape: [1], data: new Int32Array([7]) },
  };
  userError(
    () => assignRecords(vars, recs, 'model.safetensors in runs/x'),
    /^model\.safetensors in runs\/x has NaN or infinite values in b \(2 of 2\); the weights are damaged/,
  );
  assert.deepEqual(Array.from(vars.a.dataSync()), [1, 2, 3], 'a was not overwritten before the check');
  const f16 = { ...recs, b: { dtype: 'F16' as const, shape: [2], data: new Uint16Array([0x3c00, 0x7c00]) } }; // 1, +Inf
  userError(() => assignRecords(vars, f16, 'ema.safetensors'), /b \(1 of 2\)/);
  for (const v of Object.values(vars)) v.dispose();
});

test('a model too large to allocate is a UserError before the allocation, and frees what it had allocated', () => {
  const before = tf.memory().numTensors;
  const store = new ParamStore(0);
  store.param('small', [4, 4], 'zeros');
  userError(
    () => store.param('huge', [2 ** 15, 2 ** 14 + 1], 'zeros'),
    /^The model is too large: huge \[32768,16385\] brings it to at least 5\.37e\+8 parameters \(2\.0 GiB of float32\), over the limit/,
  );
  assert.equal(tf.memory().numTensors, before, 'the store freed its variables');
  // the case: --latent 100000000 on the VAE
  const vae = getFamily('vae');
  const model = vae.modelSchema.parse({ ...registry.vae.tinyPreset, latent: 100_000_000 });
  userError(
    () => vae.create(model, { height: 16, width: 16, channels: 3, numClasses: 0 }, 1),
    /The model is too large: .*make it smaller \(model\.latent/,
  );
  assert.equal(tf.memory().numTensors, before);
});
