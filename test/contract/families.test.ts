// The contract every family in the registry must keep, on every backend that can run it:
// shapes and range of samples, determinism (also across sampling chunk sizes), safetensors save/load round trip, no tensor leak, overfitting one batch
// (for adversarial models, which train by their own step: samples move towards the batch).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { TEST_BACKEND } from '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { registerNativeBackend } from '../../src/node/native/backend.ts';
import { registry } from '../../src/core/registry.ts';
import type { Family, GenerativeModel } from '../../src/core/family.ts';
import { trainSchema } from '../../src/core/config/schema.ts';
import { trainerFor, trainModelStep } from '../../src/core/train/model-step.ts';
import { assignRecords, variablesToRecords } from '../../src/core/checkpoint/format.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { tinyModel, tinyModelConfig, tinyShapes } from '../helpers/tiny-model.ts';
import { sampleChunks } from '../../src/core/sample-chunks.ts';

const H = 8;
const { shapes, info } = tinyShapes(16, H);
const CAPTIONS = shapes.captions!;
const X = tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(shapes.images), [16, H, H, 3]), 255)) as tf.Tensor4D;
const Y = tf.tensor1d(shapes.labels!, 'int32');
tf.keep(X);
tf.keep(Y);

const SLOW_ON_CPU = ['diffusion', 'pixelcnn', 'igpt'];

type Variant = { name: string; over: Record<string, unknown>; convTraining: boolean };
const VARIANTS: Variant[] = [
  { name: 'mlp', over: {}, convTraining: false },
  { name: 'conv', over: { arch: 'conv' }, convTraining: true },
  { name: 'label-conditional', over: { cond: { kind: 'label' } }, convTraining: false },
  { name: 'text-conditional', over: { cond: { kind: 'text' } }, convTraining: false },
];

/**
 * The same samples from batches of other sizes: bit for bit on the CPU backends; on webgpu within 1e-5 (a GPU's matmul
 * and reduction shaders tile by shape, so a batch of 1 and of 5 round differently in the last bit or two).
 */
function sameSamples(got: number[], expected: number[], what: string): void {
  if (TEST_BACKEND !== 'webgpu') return assert.deepEqual(got, expected, what);
  assert.equal(got.length, expected.length, what);
  const worst = Math.max(0, ...got.map((g, i) => Math.abs(g - expected[i])));
  assert.ok(worst <= 1e-5, `${what}: max |difference| ${worst}`);
}

type Plain = Record<string, unknown>;
const modelConfig = tinyModelConfig;
const make = (fam: Family<unknown>, over: Plain, seed = 3): GenerativeModel => tinyModel(fam, info, over, seed);

/** The variant's cond.kind, after the family's defaults (oneshot is label-conditional unless told otherwise). */
const kindOf = (fam: Family<unknown>, over: Plain) =>
  (modelConfig(fam, over).cond as { kind?: string } | undefined)?.kind ?? 'none';
/** Sampling options for a variant: labels, prompts or nothing. */
const condOpts = (fam: Family<unknown>, over: Plain) =>
  kindOf(fam, over) === 'label'
    ? { labels: [0, 1, 2, 3] }
    : kindOf(fam, over) === 'text'
      ? { prompts: CAPTIONS.slice(0, 3) }
      : {};

// native is required in CI (DEEPGEN_REQUIRE_NATIVE=1); without the addon it is left out, which test/native reports.
// DEEPGEN_TEST_BACKEND=webgpu runs the suite on webgpu alone (a separate CI step, on SwiftShader: see docs/backends.md)
const BACKENDS_UNDER_TEST =
  TEST_BACKEND === 'webgpu'
    ? ['webgpu']
    : ['cpu', 'wasm', ...(registerNativeBackend().ok || process.env.DEEPGEN_REQUIRE_NATIVE ? ['native'] : [])];

for (const backend of BACKENDS_UNDER_TEST) {
  describe(`contract on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });
    for (const [name, famAny] of Object.entries(registry)) {
      // DEEPGEN_CONTRACT_FAMILIES=diffusion,vae narrows the suite while developing one family
      if (process.env.DEEPGEN_CONTRACT_FAMILIES && !process.env.DEEPGEN_CONTRACT_FAMILIES.split(',').includes(name))
        continue;
      const fam = famAny as unknown as Family<unknown>;
      for (const v of VARIANTS) {
        // DEEPGEN_CONTRACT_VARIANTS=mlp,conv narrows it further (CI's webgpu step, on a slow software GPU)
        if (process.env.DEEPGEN_CONTRACT_VARIANTS && !process.env.DEEPGEN_CONTRACT_VARIANTS.split(',').includes(v.name))
          continue;
        // a family without a `cond` section has no conditional variants
        if (!fam.modelSchema.safeParse(modelConfig(fam, v.over)).success) continue;
        // training a conv net needs Conv2DBackpropFilter (not in wasm); a family without arch=mlp is taken to be conv
        const usesConv = v.convTraining || modelConfig(fam, v.over).arch !== 'mlp';
        // the diffusion UNet's, the PixelCNN's and the image GPT's training steps take ~1 s each on the pure-JS cpu
        // backend (the contract's 150 overfitting steps took 2-4 minutes per variant): their training contract runs on
        // native (required in CI) instead, and each family's own tests train it on the other backends
        const canTrain =
          !(usesConv && !tf.getKernel('Conv2DBackpropFilter', backend)) &&
          !(SLOW_ON_CPU.includes(name) && backend === 'cpu');
        describe(`${name} (${v.name})`, () => {
          test('samples have shape [n,H,W,C] and values in [0,1]', () => {
            const m = make(fam, v.over);
            const s = m.sample(6, 1, condOpts(fam, v.over));
            assert.deepEqual(s.shape, [6, H, H, 3]);
            const d = s.dataSync();
            assert.ok(d.every((x) => x >= 0 && x <= 1 && Number.isFinite(x)));
            s.dispose();
            m.dispose();
          });

          test(
            fam.deterministic
              ? 'same seed, same samples; another seed, the same samples (deterministic)'
              : 'same seed, same samples; another seed, other samples',
            () => {
              const m = make(fam, v.over);
              const a = m.sample(4, 7, condOpts(fam, v.over));
              const b = m.sample(4, 7, condOpts(fam, v.over));
              const c = m.sample(4, 8, condOpts(fam, v.over));
              assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
              // a deterministic family (oneshot) ignores the seed: the same condition, the same image
              if (fam.deterministic)
                assert.deepEqual(
                  Array.from(a.dataSync()),
                  Array.from(c.dataSync()),
                  'a deterministic family must ignore the seed',
                );
              else assert.notDeepEqual(Array.from(a.dataSync()), Array.from(c.dataSync()));
              // seed 0, the CLI's default (tf.random* ops take a raw 0 as "unseeded")
              const z1 = m.sample(4, 0, condOpts(fam, v.over));
              const z2 = m.sample(4, 0, condOpts(fam, v.over));
              assert.deepEqual(
                Array.from(z1.dataSync()),
                Array.from(z2.dataSync()),
                'seed 0 must be as reproducible as any other seed',
              );
              tf.dispose([a, b, c, z1, z2]);
              m.dispose();
              // same init seed, same weights
              const m1 = make(fam, v.over, 5);
              const m2 = make(fam, v.over, 5);
              for (const k of Object.keys(m1.params.vars))
                assert.deepEqual(Array.from(m1.params.vars[k].dataSync()), Array.from(m2.params.vars[k].dataSync()), k);
              m1.dispose();
              m2.dispose();
            },
          );

          test('the same samples whatever the chunk size: sample i depends on (seed, i) alone', () => {
            const m = make(fam, v.over);
            const opts = condOpts(fam, v.over);
            const whole = m.sample(5, 9, opts);
            const expected = Array.from(whole.dataSync());
            whole.dispose();
            for (const chunk of [1, 2, 3]) {
              const got: number[] = [];
              for (const { images } of sampleChunks(m, 5, 9, opts, chunk)) got.push(...images.dataSync());
              sameSamples(got, expected, `chunks of ${chunk}`);
            }
            // a later sample alone, as the chunk that holds it draws it
            const third = m.sample(1, 9, { ...opts, first: 2 });
            sameSamples(Array.from(third.dataSync()), expected.slice(2 * H * H * 3, 3 * H * H * 3), 'sample 2 alone');
            third.dispose();
            m.dispose();
          });

          test('save to safetensors and load into a fresh model gives identical samples', async () => {
            const m = make(fam, v.over, 3);
            const bytes = encodeSafetensors(await variablesToRecords(m.params.all()));
            const fresh = make(fam, v.over, 4);
            assignRecords(fresh.params.all(), decodeSafetensors(bytes).tensors, 'test');
            const a = m.sample(3, 2, condOpts(fam, v.over));
            const b = fresh.sample(3, 2, condOpts(fam, v.over));
            assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
            tf.dispose([a, b]);
            m.dispose();
            fresh.dispose();
          });

          test('a model and its trainer leave no tensor behind after dispose()', () => {
            const before = tf.memory().numTensors;
            const m = make(fam, v.over);
            trainerFor(m, trainSchema.parse({ ema: 0.9 }), 10).dispose();
            m.dispose();
            assert.equal(tf.memory().numTensors, before, 'tensors left after dispose');
          });

          if (canTrain) {
            test('no tensor leak across training steps, sampling and evaluation', () => {
              const m = make(fam, v.over);
              const tr = trainerFor(m, trainSchema.parse({ ema: 0.9, clipNorm: 5 }), 100);
              const y = kindOf(fam, v.over) === 'label' ? Y : null;
              const captions = kindOf(fam, v.over) === 'text' ? CAPTIONS : null;
              const step = (i: number) =>
                trainModelStep(tr, m, () => ({ x: tf.clone(X), y: y && tf.clone(y), captions }), i + 1);
              const roundTrip = (i: number) => {
                step(i);
                tf.dispose(m.sample(2, i, condOpts(fam, v.over)));
                if (m.evaluate) m.evaluate([{ x: X, y, captions }], { iwaeK: 3, seed: i });
                if (m.pictures)
                  for (const p of m.pictures(X, y ? Array.from(Y.dataSync()) : undefined, 0)) p.images.dispose();
              };
              roundTrip(0);
              roundTrip(1);
              const before = tf.memory().numTensors;
              for (let i = 2; i < 12; i++) roundTrip(i);
              assert.equal(tf.memory().numTensors, before, 'numTensors grew');
              tr.dispose();
              m.dispose();
            });

            // DEEPGEN_CONTRACT_OVERFIT_FAMILIES=vae keeps the 150-step overfitting test to those families (CI's webgpu
            // step: 30-150 s each on SwiftShader; test/webgpu checks every family's training steps against cpu instead)
            const overfit =
              !process.env.DEEPGEN_CONTRACT_OVERFIT_FAMILIES ||
              process.env.DEEPGEN_CONTRACT_OVERFIT_FAMILIES.split(',').includes(name);
            test(
              'overfits one batch: loss falls well below its start',
              { skip: !overfit && 'not in DEEPGEN_CONTRACT_OVERFIT_FAMILIES' },
              (t) => {
                const m = make(fam, v.over);
                const tr = trainerFor(m, trainSchema.parse({ lr: 3e-3 }), 200);
                const y = kindOf(fam, v.over) === 'label' ? Y : null;
                const captions = kindOf(fam, v.over) === 'text' ? CAPTIONS : null;
                const step = (i: number) =>
                  trainModelStep(tr, m, () => ({ x: tf.clone(X), y: y && tf.clone(y), captions }), i).loss;
                if (m.trainStep) {
                  // an adversarial model's losses need not fall; its samples must move towards the batch: the RMS distance
                  // between the mean sample, in the model's pixel space (sample() maps [-1, 1] to [0, 1] for 'symmetric'
                  // models), and the mean of the batch it was trained on. GAN training oscillates, so the distance is
                  // averaged over the last 50 of 150 steps; the family's own Adam beta1 (0.5 for GANs) is used.
                  tr.dispose();
                  const adv = trainerFor(
                    m,
                    trainSchema.parse({ lr: 1e-3, beta1: fam.defaults.train.beta1 ?? 0.9 }),
                    200,
                  );
                  const toModel = (s: tf.Tensor4D) =>
                    fam.requiredPreprocess === 'symmetric' ? tf.sub(tf.mul(s, 2), 1) : s;
                  const gap = () =>
                    tf.tidy(
                      () =>
                        tf
                          .sqrt(
                            tf.mean(
                              tf.square(
                                tf.sub(tf.mean(toModel(m.sample(32, 5, condOpts(fam, v.over))), 0), tf.mean(X, 0)),
                              ),
                            ),
                          )
                          .dataSync()[0],
                    );
                  const first = gap();
                  const late: number[] = [];
                  for (let i = 1; i <= 150; i++) {
                    trainModelStep(adv, m, () => ({ x: tf.clone(X), y: y && tf.clone(y), captions }), i);
                    if (i > 100 && i % 10 === 0) late.push(gap());
                  }
                  const last = late.reduce((a, b) => a + b, 0) / late.length;
                  t.diagnostic(`mean-image gap ${first.toFixed(3)} -> ${late.map((g) => g.toFixed(3)).join(', ')}`);
                  assert.ok(last < first * 0.75, `mean-image gap ${first} -> ${late.join(', ')} (mean ${last})`);
                  adv.dispose();
                  m.dispose();
                  return;
                }
                const first = step(1);
                let last = first;
                for (let i = 0; i < 150; i++) last = step(2 + i);
                // recon of 8x8x3 continuous pixels starts near 192 * ln 2 = 133 nats
                assert.ok(last < first * 0.85, `loss ${first} -> ${last}`);
                tr.dispose();
                m.dispose();
              },
            );
          }
        });
      }
    }
  });
}
