// The sampling loop's predicted-x_0 frames (issue 22): each frame's x0() is x0FromEps of the step's x_t and eps
// (clipped, in [0, 1]), for eps- and v-prediction, with and without guidance; under DDIM eta 0 the last frame's x0hat
// is the final sample; x0hat costs nothing unless asked for, and no tensor leaks with or without a listener; the
// denoising picture and `deepgen sample --animate` show x0hat beside x_t.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { registry } from '../../src/core/registry.ts';
import { DiffusionModel } from '../../src/core/families/diffusion/index.ts';
import { sampleLoop, type LoopOptions, type Net } from '../../src/core/families/diffusion/sample.ts';
import { makeSchedule } from '../../src/core/diffusion/schedules.ts';
import { epsFromV, x0FromEps } from '../../src/core/diffusion/forward.ts';
import { samplers, type Sampler } from '../../src/core/diffusion/samplers/index.ts';
import { disposeCondSeq } from '../../src/core/conditioning/conditioner.ts';
import { runCli } from '../helpers/cli.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';
import { averaged } from '../helpers/toy-sampler.ts';

const info = { height: 8, width: 8, channels: 1, numClasses: 3 };
const shape: [number, number, number, number] = [3, 8, 8, 1];

/** A tiny label-conditional UNet with perturbed weights (the output conv starts at zero, predicting eps = 0). */
function tinyModel(prediction: 'eps' | 'v'): DiffusionModel {
  const fam = registry.diffusion;
  const cfg = fam.modelSchema.parse({
    ...fam.defaults.model,
    ...fam.tinyPreset,
    prediction,
    cond: { kind: 'label', dim: 16 },
  });
  const m = new DiffusionModel(cfg, info, 2);
  for (const v of Object.values(m.params.vars))
    v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.2, 'float32', 7))));
  return m;
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const to01 = (x: tf.Tensor4D) => tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as tf.Tensor4D;

for (const prediction of ['eps', 'v'] as const)
  for (const guidance of [1, 3])
    test(`x0 frames (${prediction}-prediction, guidance ${guidance}): x0FromEps of the step's x_t and guided eps, clipped`, () => {
      const m = tinyModel(prediction);
      const s = m.schedule;
      const cond = m.cond!.embedSeq({ labels: [0, 1, 2] }, 3),
        nul = m.cond!.nullEmbedSeq(3);
      // the net's inputs and outputs at each step, to recompute eps and x0hat independently of the loop
      const seen: { xt: tf.Tensor4D; out: tf.Tensor4D; t: number }[] = [];
      const net: Net = (xt, t, c) => {
        const out = m.unet.forward(xt, t, c);
        seen.push({ xt: tf.keep(xt.clone()), out: tf.keep(out.clone()), t: t[0] });
        return out;
      };
      const x0s: tf.Tensor4D[] = [],
        images: tf.Tensor4D[] = [];
      const o: LoopOptions = {
        sampler: samplers.ddim,
        steps: 4,
        eta: 0,
        guidance,
        cond,
        nullCond: guidance === 1 ? null : nul,
        onFrame: (img, _step, _total, more) => {
          images.push(img.clone());
          x0s.push(more.x0!().clone());
          assert.equal(more.x0!(), more.x0!(), 'x0() computes x0hat once per frame');
        },
      };
      const x = sampleLoop(s, prediction, net, shape, 5, o);
      assert.equal(x0s.length, 4);
      assert.equal(seen.length, 4);
      for (let i = 0; i < 4; i++) {
        const { xt, out, t } = seen[i];
        const want = tf.tidy(() => {
          // with guidance the net sees [x_t; x_t] with [cond; null]: eps = eps_u + w (eps_c - eps_u)
          let f = out;
          if (guidance !== 1) {
            const [c, u] = tf.split(out, 2, 0);
            f = tf.add(u, tf.mul(guidance, tf.sub(c, u))) as tf.Tensor4D;
          }
          const x = guidance !== 1 ? (tf.slice(xt, 0, 3) as tf.Tensor4D) : xt;
          const eps = prediction === 'v' ? epsFromV(s, x, f, t) : f;
          return to01(tf.clipByValue(x0FromEps(s, x, eps, t), -1, 1) as tf.Tensor4D);
        });
        assert.ok(maxAbs(x0s[i], want) < 1e-5, `step ${i + 1}: x0hat differs by ${maxAbs(x0s[i], want)}`);
        assert.ok(x0s[i].dataSync().every((v) => v >= 0 && v <= 1));
        want.dispose();
      }
      // x0hat says more than x_t early on, and the two differ until the end
      assert.ok(maxAbs(x0s[0], images[0]) > 0.05, 'the first x0hat is not the noisy x_t');
      // DDIM eta 0: the last step lands on alphaBar = 1, so the final sample is the last step's x0hat
      const final = to01(x);
      assert.ok(maxAbs(x0s[3], final) < 1e-6, `last x0hat vs the sample: ${maxAbs(x0s[3], final)}`);
      assert.ok(maxAbs(images[3], final) < 1e-6);
      tf.dispose([x, final, ...x0s, ...images, ...seen.flatMap((r) => [r.xt, r.out])]);
      disposeCondSeq(cond);
      disposeCondSeq(nul);
      m.dispose();
    });

test('no tensor leaks with or without a frame listener, whether it asks for x0hat or not, for every sampler', async () => {
  const m = tinyModel('eps');
  const s = makeSchedule('linear', 40);
  const net: Net = (xt, t, c) => m.unet.forward(xt, t, c);
  const cond = m.cond!.embedSeq({ labels: [0, 1, 2] }, 3),
    nul = m.cond!.nullEmbedSeq(3);
  const base = { steps: 4, eta: 0.5, guidance: 2, cond, nullCond: nul };
  const listeners: (LoopOptions['onFrame'] | undefined)[] = [
    undefined,
    () => {},
    (_img, _s, _t, more) => void more.x0!(),
  ];
  for (const sampler of [samplers.ddim, samplers.ddpm, averaged as Sampler])
    for (const onFrame of listeners) {
      const before = tf.memory().numTensors;
      const x = sampleLoop(s, 'eps', net, shape, 3, {
        ...base,
        sampler,
        onFrame,
        steps: sampler === samplers.ddpm ? 40 : 4,
      });
      x.dispose();
      assert.equal(tf.memory().numTensors, before, `${sampler.label}, listener ${listeners.indexOf(onFrame)}: leak`);
    }
  // a listener that throws frees the frame, x0hat and the loop's tensors too
  const before = tf.memory().numTensors;
  assert.throws(
    () =>
      sampleLoop(s, 'eps', net, shape, 3, {
        ...base,
        sampler: averaged as Sampler,
        onFrame: (_img, step, _t, more) => {
          more.x0!();
          if (step === 2) throw new Error('stop');
        },
      }),
    /stop/,
  );
  assert.equal(tf.memory().numTensors, before, 'a throwing listener leaked tensors');
  // x0hat is computed only when asked for: the same kernels as a listener that ignores it, plus a few per step
  const kernels = async (onFrame: LoopOptions['onFrame']) =>
    (
      await tf.profile(() =>
        sampleLoop(s, 'eps', net, shape, 3, { ...base, sampler: samplers.ddim, onFrame }).dispose(),
      )
    ).kernels.length;
  const [none, ignoring, asking] = [await kernels(undefined), await kernels(() => {}), await kernels(listeners[2])];
  assert.ok(ignoring - none <= 4 * 4, `a frame listener costs ${ignoring - none} kernels over 4 steps`);
  assert.ok(asking - ignoring >= 4 * 2, `x0hat added only ${asking - ignoring} kernels: was it computed at all?`);
  disposeCondSeq(cond);
  disposeCondSeq(nul);
  m.dispose();
});

test("the diffusion family's pictures: the denoising picture pairs each x_t row with its x0hat row", () => {
  const m = tinyModel('eps');
  const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const pics = m.pictures(x, [0, 1, 2, 0], 3);
  const den = pics.find((p) => p.name === 'denoising')!;
  assert.equal(den.cols, 4, 'the tiny preset samples in 4 steps, one column each');
  assert.deepEqual(den.images.shape, [4 * 2 * 4, 8, 8, 1], '4 samples, a row of x_t and a row of x0hat each');
  assert.match(den.caption, /x0hat = \(x_t - sqrt\(1 - alphaBar_t\) eps\) \/ sqrt\(alphaBar_t\)/);
  // DDIM eta 0: each pair ends on the same image (the sample is the last x0hat); earlier columns differ
  const rows = tf.tidy(() => tf.reshape(den.images, [4, 2, 4, 8 * 8]).arraySync() as number[][][][]);
  for (const [xt, x0] of rows) {
    assert.deepEqual(xt[3], x0[3]);
    assert.notDeepEqual(xt[0], x0[0]);
  }
  for (const p of pics) p.images.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
  m.dispose();
});

test('deepgen sample --animate: each GIF frame is the x_t grid beside the x0hat grid (diffusion), x_t alone otherwise', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-x0-'));
  try {
    for (const family of ['diffusion', 'pixelcnn'] as const) {
      const run = await trainTinyRun(family, path.join(dir, family));
      const gif = path.join(dir, `${family}.gif`);
      const r = await runCli(['sample', run, '--n', '4', '--animate', gif, '--out', path.join(dir, `${family}.png`)], {
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const width = fs.readFileSync(gif).readUInt16LE(6); // the GIF's logical screen width
      const grid = 2 * 16 + 3 * 2; // 2 columns of 16-pixel samples with 2-pixel borders
      if (family === 'diffusion') {
        assert.equal(width, 2 * grid + 4, 'x_t grid, 4-pixel gap, x0hat grid');
        assert.match(r.stdout, /x_t on the left, the predicted x_0 on the right/);
      } else {
        assert.equal(width, grid);
        assert.doesNotMatch(r.stdout, /predicted x_0/);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
