// The webgpu backend in Node against cpu: every family's loss, three Adam steps and seeded samples from the same
// weights; group norm and Adam (fused kernels on native, composed ops here); no tensor leak; the one-line errors.
// Skips without the optional packages or a WebGPU adapter, unless DEEPGEN_REQUIRE_WEBGPU=1 (CI: SwiftShader).
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/node/backend.ts';
import {
  checkWebgpuPackages,
  registerWebgpuBackend,
  WEBGPU_INSTALL,
  type WebgpuAdapter,
} from '../../src/node/webgpu.ts';
import { registry } from '../../src/core/registry.ts';
import type { DataInfo, Family, GenerativeModel } from '../../src/core/family.ts';
import { trainSchema } from '../../src/core/config/schema.ts';
import { trainerFor, trainModelStep } from '../../src/core/train/model-step.ts';
import { assignRecords, variablesToRecords } from '../../src/core/checkpoint/format.ts';
import type { TensorRecord } from '../../src/core/checkpoint/safetensors.ts';
import { generateShapes } from '../../src/core/data/shapes.ts';
import { groupNorm, groupNormOps } from '../../src/core/nn/group-norm.ts';
import { Adam, FUSED_ADAM_KERNEL } from '../../src/core/train/adam.ts';
import { UserError } from '../../src/core/errors.ts';
import { runCli } from '../helpers/cli.ts';

const REQUIRE = process.env.DEEPGEN_REQUIRE_WEBGPU === '1';
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
 * Tolerances, webgpu against cpu, float32 both (a GPU sums in another order, and its exp/log differ in the last bits):
 * losses and continuous samples to a relative / absolute 1e-3; parameters after three Adam steps (lr 1e-3) to 1e-3
 * (Adam's first steps move a weight by about lr whatever the gradient's size, so a near-zero gradient whose sign
 * differs moves it 2 lr apart: such weights are allowed, at most 1 in 1000); autoregressive samples (categorical
 * draws, where one rounding can change a pixel and all after it) must agree on 90% of their values.
 */
const TOL = { loss: 1e-3, params: 1e-3, paramsOutliers: 1e-3, samples: 1e-3, discreteAgreement: 0.9 };

const H = 8;
const shapes = generateShapes({ n: 8, seed: 1, size: H });
const vocabulary = [...new Set(shapes.captions!.flatMap((c) => c.toLowerCase().split(/\s+/).filter(Boolean)))].sort();
const info: DataInfo = {
  height: H,
  width: H,
  channels: 3,
  numClasses: shapes.classNames!.length,
  classNames: shapes.classNames,
  vocabulary,
};
const pixels = Float32Array.from(shapes.images, (v) => v / 255);
const labels = Int32Array.from(shapes.labels!);

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const merge = (a: Plain, b: Plain): Plain =>
  Object.fromEntries(
    [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [
      k,
      isPlain(a[k]) && isPlain(b[k]) ? merge(a[k] as Plain, b[k] as Plain) : k in b ? b[k] : a[k],
    ]),
  );

interface Run {
  records: Record<string, TensorRecord>;
  loss: number;
  stepLosses: number[];
  params: Float32Array;
  samples: Float32Array;
  leaked: number;
}

/** On `backend`: the family's tiny model (weights from `records` when given), its loss, 3 Adam steps, 4 samples. */
async function runFamily(backend: string, fam: Family<unknown>, records?: Record<string, TensorRecord>): Promise<Run> {
  await initBackend(backend);
  const start = tf.memory().numTensors;
  const cfg = fam.modelSchema.parse(merge(fam.defaults.model, fam.tinyPreset));
  const needsLabels = fam.needsLabels(cfg),
    needsCaptions = !!fam.needsCaptions?.(cfg);
  const m: GenerativeModel = fam.create(cfg, info, 3);
  if (records) assignRecords(m.params.all(), records, 'cpu run');
  const own = records ?? (await variablesToRecords(m.params.all()));
  const X = tf.tensor4d(pixels, [8, H, H, 3]);
  const x = fam.requiredPreprocess === 'symmetric' ? tf.tidy(() => tf.sub(tf.mul(X, 2), 1) as tf.Tensor4D) : X;
  const y = needsLabels ? tf.tensor1d(labels, 'int32') : null;
  const captions = needsCaptions ? shapes.captions! : null;
  const out = m.loss(x, y, 5, captions);
  const loss = out.loss.dataSync()[0];
  tf.dispose([out.loss, ...Object.values(out.terms)]);
  const tr = trainerFor(m, trainSchema.parse({ lr: 1e-3 }), 10);
  const stepLosses: number[] = [];
  for (let i = 1; i <= 3; i++)
    stepLosses.push(trainModelStep(tr, m, () => ({ x: tf.clone(x), y: y && tf.clone(y), captions }), i).loss);
  const params = Float32Array.from(Object.values(m.params.vars).flatMap((v) => Array.from(v.dataSync(), Number)));
  const opts = {
    ...(needsLabels ? { labels: [0, 1, 2, 3] } : {}),
    ...(needsCaptions ? { prompts: shapes.captions!.slice(0, 4) } : {}),
    ...(fam.samplingOptions?.includes('steps') ? { steps: 10 } : {}),
  };
  const s = m.sample(4, 11, opts);
  const samples = Float32Array.from(s.dataSync());
  tf.dispose([s, X, x, ...(y ? [y] : [])]);
  tr.dispose();
  m.dispose();
  return { records: own, loss, stepLosses, params, samples, leaked: tf.memory().numTensors - start };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
};
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

describe('webgpu against cpu, every family (tiny model, 8x8 shapes)', { skip }, () => {
  for (const [name, famAny] of Object.entries(registry)) {
    const fam = famAny as unknown as Family<unknown>;
    test(`${name}: loss, three Adam steps, seeded samples; no tensor left`, async (t) => {
      const cpu = await runFamily('cpu', fam);
      const gpu = await runFamily('webgpu', fam, cpu.records);
      const paramDiffs = Array.from(gpu.params, (v, i) => Math.abs(v - cpu.params[i]));
      const outliers = paramDiffs.filter((d) => d > TOL.params).length;
      const discrete = fam.generation === 'pixels';
      const agreement =
        cpu.samples.filter((v, i) => Math.abs(v - gpu.samples[i]) <= TOL.samples).length / cpu.samples.length;
      t.diagnostic(
        `loss cpu ${cpu.loss} webgpu ${gpu.loss}; steps ${cpu.stepLosses.map((l, i) => `${l.toFixed(4)}/${gpu.stepLosses[i].toFixed(4)}`).join(' ')}; ` +
          `params max |diff| ${Math.max(...paramDiffs).toExponential(2)} (${outliers} of ${paramDiffs.length} over ${TOL.params}); ` +
          `samples max |diff| ${maxAbs(cpu.samples, gpu.samples).toExponential(2)}, ${(agreement * 100).toFixed(1)}% within ${TOL.samples}`,
      );
      assert.ok(rel(gpu.loss, cpu.loss) <= TOL.loss, `loss ${gpu.loss} vs cpu ${cpu.loss}`);
      for (let i = 0; i < 3; i++)
        assert.ok(
          rel(gpu.stepLosses[i], cpu.stepLosses[i]) <= TOL.loss,
          `step ${i + 1} loss ${gpu.stepLosses[i]} vs ${cpu.stepLosses[i]}`,
        );
      assert.ok(
        outliers <= Math.max(1, paramDiffs.length * TOL.paramsOutliers),
        `${outliers} parameters differ by more than ${TOL.params}`,
      );
      if (discrete)
        assert.ok(agreement >= TOL.discreteAgreement, `${(agreement * 100).toFixed(1)}% of sample values agree`);
      else assert.ok(maxAbs(cpu.samples, gpu.samples) <= TOL.samples, 'samples differ');
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
    { skip: skip && 'the packages are needed' },
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
    const x = tf.tensor1d([1, 2, 3]);
    (tf.backend() as unknown as { device: { destroy(): void } }).device.destroy();
    await new Promise((r) => setTimeout(r, 50)); // device.lost resolves from the event loop
    assert.throws(
      () => tf.add(x, 1).dataSync(),
      (e: unknown) =>
        e instanceof UserError && /^The WebGPU device was lost \(/.test(e.message) && !e.message.includes('\n'),
    );
    await initBackend('cpu');
  });
});
