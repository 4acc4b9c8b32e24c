// The sampler registry: a sampler added to `samplers` is accepted by the diffusion config, offered by the CLI's
// --sampler and used by the model; a stateful sampler's tensors are freed; DDIM (eta = 1, every step) and DDPM both
// sample a Gaussian data distribution N(mu, s^2) from its exact noise predictor, and agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// only the registry is imported statically: the config, CLI and model are imported below, after the registration,
// as a program importing them after adding its own sampler would
import { samplers, getSampler, samplerNames, type Sampler } from '../../src/core/diffusion/samplers/index.ts';
import { averaged } from '../helpers/toy-sampler.ts';

(samplers as Record<string, Sampler<any>>).averaged = averaged;

test('a sampler added to the registry is in the config enum, the CLI choices and usable by the model; its state is freed', async () => {
  await import('../helpers/backend.ts');
  const { registry } = await import('../../src/core/registry.ts');
  const { DiffusionModel } = await import('../../src/core/families/diffusion/index.ts');
  const { Command } = await import('commander');
  const { registerSample } = await import('../../src/cli/sample.ts');
  assert.deepEqual(samplerNames(), ['ddim', 'ddpm', 'dpm++2m', 'averaged']);
  const fam = registry.diffusion;
  const cfg = fam.modelSchema.parse({ ...fam.defaults.model, ...fam.tinyPreset, sampler: 'averaged' });
  assert.equal(cfg.sampler, 'averaged');
  assert.equal(fam.modelSchema.safeParse({ ...fam.defaults.model, sampler: 'euler' }).success, false);
  // the CLI: --sampler accepts every registered name and lists them when refusing one
  const program = new Command();
  registerSample(program);
  const opt = program.commands.find((c) => c.name() === 'sample')!.options.find((o) => o.long === '--sampler')!;
  assert.equal(opt.parseArg!('averaged', undefined), 'averaged');
  assert.throws(() => opt.parseArg!('euler', undefined), /ddim, ddpm, dpm\+\+2m, averaged/);
  assert.match(opt.description, /averaged/);
  assert.throws(
    () => getSampler('toString'),
    /unknown sampler "toString"; use one of: ddim, ddpm, dpm\+\+2m, averaged/,
  );
  // the model samples with it (the config's default here); tensors kept in the state (x_t included) are disposed
  const m = new DiffusionModel(cfg, { height: 4, width: 4, channels: 1, numClasses: 0 }, 1);
  for (const v of Object.values(m.params.vars))
    v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.2, 'float32', 9))));
  const before = tf.memory().numTensors;
  const a = m.sample(2, 5),
    d = m.sample(2, 5, { sampler: 'ddim' });
  assert.equal(tf.memory().numTensors, before + 2, 'the sampler state leaked tensors');
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, d))).dataSync()[0]);
  assert.ok(
    diff > 1e-6 && a.dataSync().every(Number.isFinite),
    `the averaged sampler must differ from DDIM (max diff ${diff})`,
  );
  tf.dispose([a, d]);
  m.dispose();
});

test('DDIM with eta = 1 over every step and DDPM both sample N(mu, s^2) given its exact eps predictor', async () => {
  await import('../helpers/backend.ts');
  const { makeSchedule } = await import('../../src/core/diffusion/schedules.ts');
  const { sampleLoop } = await import('../../src/core/families/diffusion/sample.ts');
  const T = 500,
    mu = 0.2,
    sd = 0.3;
  const s = makeSchedule('linear', T);
  // x_t = sqrt(ab) x0 + sqrt(1 - ab) eps with x0 ~ N(mu, sd^2): E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) mu) / (ab sd^2 + 1 - ab)
  const net = (xt: tf.Tensor4D, t: ArrayLike<number>) => {
    const ab = s.alphaBar[t[0]];
    return tf.mul(tf.sub(xt, Math.sqrt(ab) * mu), Math.sqrt(1 - ab) / (ab * sd * sd + 1 - ab)) as tf.Tensor4D;
  };
  const before = tf.memory().numTensors;
  const draws: Float32Array[] = [];
  for (const [name, eta] of [
    ['ddim', 1],
    ['ddpm', 0],
  ] as const) {
    const x = sampleLoop(s, 'eps', net, [8, 32, 32, 1], 3, {
      sampler: samplers[name],
      steps: T,
      eta,
      guidance: 1,
      cond: null,
      nullCond: null,
    });
    const v = x.dataSync() as Float32Array;
    draws.push(v);
    x.dispose();
    const mean = v.reduce((p, q) => p + q, 0) / v.length;
    const variance = v.reduce((p, q) => p + (q - mean) ** 2, 0) / v.length;
    // 8192 draws: standard errors 0.0033 (mean) and 0.0014 (variance); DDPM's posterior variance on T = 500 steps
    // also falls about 0.003 short of sd^2 for Gaussian data
    assert.ok(Math.abs(mean - mu) < 0.01, `${name}: mean ${mean}, want ${mu}`);
    assert.ok(Math.abs(variance - sd * sd) < 0.008, `${name}: variance ${variance}, want ${sd * sd}`);
  }
  // with every step, DDIM's sigma^2 is DDPM's posterior variance and its mean DDPM's posterior mean: the same update,
  // and both draw the same noise from the same streams
  const gap = draws[0].reduce((m, v, i) => Math.max(m, Math.abs(v - draws[1][i])), 0);
  assert.ok(gap < 1e-3, `DDIM (eta = 1) and DDPM differ by ${gap}`);
  assert.equal(tf.memory().numTensors, before);
});
