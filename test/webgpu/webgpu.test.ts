// The webgpu backend in Node against cpu: every family's loss, three Adam steps and seeded samples from the same
// weights; group norm and Adam (fused kernels on native, composed ops here); no tensor leak; the one-line errors.
// Without a GPU it uses Chromium's SwiftShader Vulkan driver where installed; skips without the optional packages or an
// adapter, unless DEEPGEN_REQUIRE_WEBGPU=1 (CI).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import {
  checkWebgpuPackages,
  missingWebgpuPackages,
  registerWebgpuBackend,
  WEBGPU_INSTALL,
  type WebgpuAdapter,
} from '../../src/node/webgpu.ts';
import { registry } from '../../src/core/registry.ts';
import type { Family, GenerativeModel } from '../../src/core/family.ts';
import { trainSchema } from '../../src/core/config/schema.ts';
import { trainerFor, trainModelStep } from '../../src/core/train/model-step.ts';
import { assignRecords, variablesToRecords } from '../../src/core/checkpoint/format.ts';
import type { TensorRecord } from '../../src/core/checkpoint/safetensors.ts';
import { tinyModelConfig, tinyShapes } from '../helpers/tiny-model.ts';
import { groupNorm, groupNormOps } from '../../src/core/nn/group-norm.ts';
import { Adam, FUSED_ADAM_KERNEL } from '../../src/core/train/adam.ts';
import { UserError } from '../../src/core/errors.ts';
import { runCli } from '../helpers/cli.ts';

const REQUIRE = process.env.DEEPGEN_REQUIRE_WEBGPU === '1';
/** Chromium's SwiftShader (Vulkan on the CPU): the adapter on a machine without a GPU, e.g. CI (docs/backends.md). */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (
  !process.env.VK_ICD_FILENAMES &&
  fs.existsSync(SWIFTSHADER_ICD) &&
  !fs.existsSync('/dev/dri') &&
  !fs.existsSync('/dev/nvidia0')
) {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD; // read when Dawn creates its Vulkan instance, below
  process.env.XDG_RUNTIME_DIR ??= os.tmpdir();
}
await initBackend('cpu');
let unavailable: string | undefined;
let adapter: WebgpuAdapter | undefined;
try {
  adapter = await registerWebgpuBackend();
} catch (e) {
  if (REQUIRE)
    throw new Error(`DEEPGEN_REQUIRE_WEBGPU=1 but the webgpu backend is unavailable: ${(e as Error).message}`, {
      cause: e,
    });
  unavailable = `webgpu backend unavailable (${(e as Error).message.split('\n')[0]})`;
}
const skip = unavailable ?? false;

/**
 * Tolerances, webgpu against cpu, float32 both (a GPU sums in another order, and its exp/log differ in the last bits),
 * from the same weights: the loss and each of three training steps' losses to a relative 1e-3; the gradient of the
 * loss to a relative L2 error of 1e-3; continuous samples to an absolute 1e-3 (pixels in [0, 1]); autoregressive
 * samples (categorical draws, where one rounding can change a pixel and every pixel after it) equal on 90% of values.
 * The parameters after three Adam steps (lr 1e-3) only within 2 lr per step: Adam moves a weight by about lr whatever
 * its gradient's size, so a near-zero gradient whose sign differs by rounding moves it 2 lr apart.
 */
const LR = 1e-3;
const TOL = { loss: 1e-3, grad: 1e-3, samples: 1e-3, discreteAgreement: 0.9, params: 2 * LR * 3 };

const H = 8;
const { shapes, info } = tinyShapes(8, H);
const pixels = Float32Array.from(shapes.images, (v) => v / 255);
const labels = Int32Array.from(shapes.labels!);

interface Run {
  records: Record<string, TensorRecord>;
  loss: number;
  grads: Float32Array;
  samples: Float32Array;
  stepLosses: number[];
  params: Float32Array;
  leaked: number;
}

/** On `backend`, from the cpu run's weights when given: the tiny model's loss and gradient, 4 samples, 3 Adam steps. */
async function runFamily(backend: string, fam: Family<unknown>, records?: Record<string, TensorRecord>): Promise<Run> {
  await initBackend(backend);
  const cfg = fam.modelSchema.parse(tinyModelConfig(fam));
  const needsLabels = fam.needsLabels(cfg),
    needsCaptions = !!fam.needsCaptions?.(cfg);
  const X = tf.tensor4d(pixels, [8, H, H, 3]);
  const x = fam.requiredPreprocess === 'symmetric' ? tf.tidy(() => tf.sub(tf.mul(X, 2), 1) as tf.Tensor4D) : X;
  const y = needsLabels ? tf.tensor1d(labels, 'int32') : null;
  const captions = needsCaptions ? shapes.captions! : null;
  const start = tf.memory().numTensors;
  const m: GenerativeModel = fam.create(cfg, info, 3);
  if (records) assignRecords(m.params.all(), records, 'cpu run');
  const own = records ?? (await variablesToRecords(m.params.all()));
  const vars = m.params.vars;
  // loss() runs inside a tidy, as the trainer calls it
  const { loss, grads } = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => m.loss(x, y, 5, captions).loss, Object.values(vars));
    return {
      loss: value.dataSync()[0],
      grads: Float32Array.from(Object.values(vars).flatMap((v) => Array.from(grads[v.name]?.dataSync() ?? []))),
    };
  });
  const opts = {
    ...(needsLabels ? { labels: [0, 1, 2, 3] } : {}),
    ...(needsCaptions ? { prompts: shapes.captions!.slice(0, 4) } : {}),
    ...(fam.samplingOptions?.includes('steps') ? { steps: 10 } : {}),
  };
  const s = m.sample(4, 11, opts);
  const samples = Float32Array.from(s.dataSync());
  s.dispose();
  const tr = trainerFor(m, trainSchema.parse({ lr: LR }), 10);
  const stepLosses: number[] = [];
  for (let i = 1; i <= 3; i++)
    stepLosses.push(trainModelStep(tr, m, () => ({ x: tf.clone(x), y: y && tf.clone(y), captions }), i).loss);
  const params = Float32Array.from(Object.values(vars).flatMap((v) => Array.from(v.dataSync(), Number)));
  tr.dispose();
  m.dispose();
  const leaked = tf.memory().numTensors - start;
  tf.dispose([X, x, ...(y ? [y] : [])]);
  return { records: own, loss, grads, samples, stepLosses, params, leaked };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
};
const sumSq = (a: ArrayLike<number>, b?: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - (b ? b[i] : 0)) ** 2;
  return s;
};
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

describe('webgpu against cpu, every family (tiny model, 8x8 shapes)', { skip }, () => {
  for (const [name, famAny] of Object.entries(registry)) {
    const fam = famAny as unknown as Family<unknown>;
    test(`${name}: loss, three Adam steps, seeded samples; no tensor left`, async (t) => {
      const cpu = await runFamily('cpu', fam);
      const gpu = await runFamily('webgpu', fam, cpu.records);
      const gradErr = Math.sqrt(sumSq(gpu.grads, cpu.grads) / Math.max(1e-30, sumSq(cpu.grads)));
      const discrete = fam.generation === 'pixels';
      const near = cpu.samples.filter((v, i) => Math.abs(v - gpu.samples[i]) <= TOL.samples).length;
      const agreement = near / cpu.samples.length;
      const stepText = cpu.stepLosses.map((l, i) => `${l.toFixed(4)}/${gpu.stepLosses[i].toFixed(4)}`).join(' ');
      t.diagnostic(
        `cpu/webgpu: loss ${cpu.loss}/${gpu.loss}, gradient relative L2 error ${gradErr.toExponential(2)}, ` +
          `samples max |diff| ${maxAbs(cpu.samples, gpu.samples).toExponential(2)} (${(agreement * 100).toFixed(1)}% within ${TOL.samples}), ` +
          `step losses ${stepText}, parameters after 3 steps max |diff| ${maxAbs(cpu.params, gpu.params).toExponential(2)}`,
      );
      assert.ok(rel(gpu.loss, cpu.loss) <= TOL.loss, `loss ${gpu.loss} vs cpu ${cpu.loss}`);
      assert.equal(gpu.grads.length, cpu.grads.length);
      assert.ok(gradErr <= TOL.grad, `gradient relative error ${gradErr}`);
      if (discrete)
        assert.ok(agreement >= TOL.discreteAgreement, `${(agreement * 100).toFixed(1)}% of sample values agree`);
      else assert.ok(maxAbs(cpu.samples, gpu.samples) <= TOL.samples, 'samples differ');
      for (let i = 0; i < 3; i++)
        assert.ok(
          rel(gpu.stepLosses[i], cpu.stepLosses[i]) <= TOL.loss,
          `step ${i + 1} loss ${gpu.stepLosses[i]} vs ${cpu.stepLosses[i]}`,
        );
      assert.ok(maxAbs(cpu.params, gpu.params) <= TOL.params, 'parameters after three steps');
      assert.equal(cpu.leaked, 0, 'tensors left on cpu');
      assert.equal(gpu.leaked, 0, 'tensors left on webgpu');
    });
  }
});

describe("deepgen's fused kernels on webgpu: none registered, the composed ops match cpu", { skip }, () => {
  before(async () => {
    await initBackend('webgpu');
  });
  test('group norm (+SiLU), values and gradients, [B, C] affine too', async () => {
    assert.equal(tf.getKernel('DeepgenGroupNorm', 'webgpu'), undefined);
    const run = async (backend: string, perImage: boolean) => {
      await initBackend(backend);
      return tf.tidy(() => {
        const x = tf.randomNormal([2, 4, 4, 16], 0, 1, 'float32', 1) as tf.Tensor4D;
        const g = tf.randomNormal(perImage ? [2, 16] : [16], 1, 0.1, 'float32', 2);
        const b = tf.randomNormal(perImage ? [2, 16] : [16], 0, 0.1, 'float32', 3);
        const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
          tf.sum(tf.square(groupNorm(xi as tf.Tensor4D, gi, bi, true, 4)));
        const [dx, dg, db] = tf.grads(f)([x, g, b]);
        return [groupNorm(x, g, b, true, 4), dx, dg, db].map((t) => Array.from(t.dataSync()));
      });
    };
    for (const perImage of [false, true]) {
      const c = await run('cpu', perImage);
      const w = await run('webgpu', perImage);
      c.forEach((v, i) => assert.ok(maxAbs(v, w[i]) <= 1e-4 * Math.max(1, ...v.map(Math.abs)), `output ${i}`));
    }
    await initBackend('webgpu');
    const x = tf.randomNormal([1, 2, 2, 8]) as tf.Tensor4D;
    const same = maxAbs(
      groupNorm(x, tf.ones([8]), tf.zeros([8])).dataSync(),
      groupNormOps(x, tf.ones([8]), tf.zeros([8])).dataSync(),
    );
    assert.equal(same, 0, 'groupNorm is groupNormOps on webgpu');
    tf.disposeVariables();
  });

  test('Adam (AdamW): five steps match cpu; state leaves no tensor', async () => {
    assert.equal(tf.getKernel(FUSED_ADAM_KERNEL, 'webgpu'), undefined);
    const run = async (backend: string) => {
      await initBackend(backend);
      const w = tf.variable(tf.randomNormal([33, 7], 0, 1, 'float32', 4), true, `w-${backend}`);
      const opt = new Adam({ beta1: 0.9, beta2: 0.99, weightDecay: 0.01 });
      const before = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) {
        const g = tf.tidy(() => tf.mul(tf.sin(w), 0.3 + i));
        opt.apply({ w }, { w: g }, 0.01);
        g.dispose();
      }
      const after = tf.memory().numTensors;
      const out = Array.from(w.dataSync());
      opt.dispose();
      w.dispose();
      return { out, grew: after - before - 2 /* m, v */ };
    };
    const c = await run('cpu');
    const g = await run('webgpu');
    assert.ok(maxAbs(c.out, g.out) <= 1e-5, `weights differ by ${maxAbs(c.out, g.out)}`);
    assert.equal(g.grew, 0);
  });
});

describe('synchronous reads (dataSync) on webgpu', { skip }, () => {
  test('many reads in one synchronous stretch: the same values, no memory piling up until the event loop turns', async () => {
    await initBackend('webgpu');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const x = tf.randomNormal([64, 64], 0, 1, 'float32', 9);
    const want = Array.from(x.dataSync(), (v) => v + 1);
    const read = () => {
      const y = tf.add(x, 1);
      const d = y.dataSync();
      y.dispose();
      return d;
    };
    for (let i = 0; i < 50; i++) read(); // warm-up: pipelines, buffer pool
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) assert.ok(maxAbs(read(), want) <= 1e-6);
    gc();
    const grew = (process.memoryUsage().heapUsed - before) / 1e6;
    // ~4 MB here (the mapAsync promises settle when the stack empties); 124 MB when each poll left a queued Immediate
    assert.ok(grew < 20, `the JS heap grew by ${grew.toFixed(1)} MB over 1000 reads`);
    x.dispose();
  });
});

describe('the webgpu backend, set-up and errors', () => {
  test('missing packages: one line naming the npm install command', () => {
    assert.throws(
      () => checkWebgpuPackages(['webgpu']),
      (e: unknown) =>
        e instanceof UserError &&
        e.message.includes(WEBGPU_INSTALL) &&
        !e.message.includes('\n') &&
        e.message.includes('webgpu'),
    );
    assert.doesNotThrow(() => checkWebgpuPackages([]));
  });

  test(
    'no adapter: deepgen info --backend webgpu exits 2 with one line naming Vulkan and VK_ICD_FILENAMES',
    { skip: missingWebgpuPackages().length > 0 && 'the packages are needed' },
    async () => {
      const r = await runCli(['info', '--backend', 'webgpu'], {
        cwd: os.tmpdir(),
        env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', XDG_RUNTIME_DIR: os.tmpdir() },
      });
      assert.equal(r.code, 2, r.stderr);
      const last = r.stderr.trim().split('\n').pop()!;
      assert.match(last, /^deepgen: error: No WebGPU adapter: .*Vulkan.*VK_ICD_FILENAMES/);
    },
  );

  test(
    'auto takes webgpu on a real GPU only, not on a software adapter (SwiftShader, llvmpipe)',
    { skip },
    async () => {
      const name = await initBackend('auto');
      if (adapter!.software) assert.notEqual(name, 'webgpu');
      else if (!process.env.DEEPGEN_NO_WEBGPU) assert.equal(name, 'webgpu');
    },
  );

  test('a lost device: the next read is one line saying so', { skip }, async () => {
    await initBackend('webgpu');
    // (a matmul: TF.js computes small elementwise ops of CPU-resident values on the CPU)
    const x = tf.randomNormal([64, 64], 0, 1, 'float32', 3);
    const device = (tf.backend() as unknown as { device: { destroy(): void; lost: Promise<unknown> } }).device;
    device.destroy();
    await device.lost; // resolves from the event loop (deepgen's handler, attached first, has run)
    assert.throws(
      () => tf.matMul(x, x).dataSync(),
      (e: unknown) =>
        e instanceof UserError && /^The WebGPU device was lost \(/.test(e.message) && !e.message.includes('\n'),
    );
    await initBackend('cpu');
  });
});
