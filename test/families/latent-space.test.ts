// The latent spaces (VAE, AE, flow, GAN): sample(n, seed) = decode(prior(n, seed, T)), encode/decode shapes and the
// flow's round trip, conditions, no tensor leak; and the autoregressive models' onPixel (PixelCNN, image GPT).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { registry } from '../../src/core/registry.ts';
import type { Family, GenerativeModel, LatentSpace, PixelStep, SampleOptions } from '../../src/core/family.ts';
import { tinyShapes } from '../helpers/tiny-model.ts';
import { VaeModel } from '../../src/core/families/vae/index.ts';
import { reconstruct } from '../../src/core/families/vae/sample.ts';
import { userError } from '../helpers/assert.ts';

const H = 8;
const { shapes, info } = tinyShapes(16, H);
const K8 = Float32Array.from(shapes.images); // 8-bit values [16, H, H, 3]
/** Preprocessed test images for each family's pipeline: k / 255 (scale01), mid-bin (k + 1/2) / 256 (dequantize), 2 k / 255 - 1 (symmetric). */
const X01 = tf.tidy(() => tf.div(tf.tensor4d(K8, [16, H, H, 3]), 255)) as tf.Tensor4D;
const XDEQ = tf.tidy(() => tf.div(tf.add(tf.tensor4d(K8, [16, H, H, 3]), 0.5), 256)) as tf.Tensor4D;
tf.keep(X01);
tf.keep(XDEQ);
const LABELS = Array.from(shapes.labels!);
const PROMPTS = shapes.captions!.slice(0, 3);

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const merge = (a: Plain, b: Plain): Plain =>
  Object.fromEntries(
    [...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [
      k,
      isPlain(a[k]) && isPlain(b[k]) ? merge(a[k] as Plain, b[k] as Plain) : k in b ? b[k] : a[k],
    ]),
  );

function make(name: string, over: Plain = {}, seed = 3): GenerativeModel {
  const fam = registry[name as keyof typeof registry] as unknown as Family<unknown>;
  const m = fam.create(fam.modelSchema.parse(merge(merge(fam.defaults.model, fam.tinyPreset), over)), info, seed);
  // a fresh flow's couplings output zeros (the identity, blind to the condition): small seeded weights wake them
  if (name === 'flow') {
    let i = 0;
    for (const [k, v] of Object.entries(m.params.vars)) {
      if (k.includes('.net.') && v.dataSync().every((x) => x === 0))
        tf.tidy(() => v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 100 + i++)));
    }
  }
  return m;
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const space = (m: GenerativeModel): LatentSpace => {
  assert.ok(m.latentSpace, 'the model has a latent space');
  return m.latentSpace();
};

const KINDS = [
  { kind: 'none', opts: {} as SampleOptions },
  { kind: 'label', opts: { labels: [3, 0, 2] } as SampleOptions },
  { kind: 'text', opts: { prompts: PROMPTS } as SampleOptions },
];

describe('latent spaces', () => {
  for (const name of ['vae', 'ae', 'flow', 'gan']) {
    for (const { kind, opts } of KINDS) {
      const over = { cond: { kind } };
      test(`${name} (${kind}): sample(n, seed) = decode(prior(n, seed)); shapes; another seed, another z`, () => {
        const m = make(name, over);
        const ls = space(m);
        const dim = name === 'flow' ? H * H * 3 : (m as unknown as { cfg: { latent: number } }).cfg.latent;
        assert.equal(ls.dim, dim);
        assert.ok(ls.description.includes(String(dim)), ls.description);
        for (const o of [opts, {}]) {
          const s = m.sample(5, 11, o);
          const z = ls.prior(5, 11);
          assert.deepEqual(z.shape, [5, dim]);
          const d = ls.decode(z, o);
          assert.deepEqual(d.shape, [5, H, H, 3]);
          assert.ok(maxAbs(s, d) < 1e-6, `sample vs decode(prior): ${maxAbs(s, d)}`);
          const z2 = ls.prior(5, 12);
          assert.ok(maxAbs(z, z2) > 0.1, 'another seed draws other codes');
          assert.ok(maxAbs(z, ls.prior(5, 11)) === 0, 'same seed, same codes');
          tf.dispose([s, z, d, z2]);
        }
        m.dispose();
      });
    }
  }

  test('flow: the temperature scales the prior and sample(T) = decode(prior(T)) at T = 0.5 and 0', () => {
    const m = make('flow');
    const ls = space(m);
    const z1 = ls.prior(4, 5, 1),
      zh = ls.prior(4, 5, 0.5),
      z0 = ls.prior(4, 5, 0);
    assert.ok(maxAbs(tf.mul(z1, 0.5), zh) < 1e-6, 'z(T) = T eps with the same eps');
    assert.equal(maxAbs(z0, tf.zerosLike(z0)), 0);
    for (const [T, z] of [
      [0.5, zh],
      [0, z0],
    ] as const) {
      const s = m.sample(4, 5, { temperature: T });
      const d = ls.decode(z, { temperature: T });
      assert.ok(maxAbs(s, d) < 1e-6, `T = ${T}: ${maxAbs(s, d)}`);
      tf.dispose([s, d]);
    }
    // the default temperature is the config's (1 here), as sample() takes it
    const s1 = m.sample(4, 5),
      d1 = ls.decode(ls.prior(4, 5));
    assert.ok(maxAbs(s1, d1) < 1e-6);
    assert.ok(maxAbs(s1, m.sample(4, 5, { temperature: 0.5 })) > 0, 'the temperature changes the samples');
    tf.dispose([z1, zh, z0, s1, d1]);
    m.dispose();
  });

  test('AE: the prior is the fitted code Gaussian mean + std eps', () => {
    const m = make('ae') as VaeModel;
    const ls = space(m);
    const eps = ls.prior(6, 9); // stats still N(0, I)
    const mean = tf.tensor1d([1, -2, 0.5, 3]),
      std = tf.tensor1d([0.5, 2, 1, 0.1]);
    m.codeMean!.assign(mean);
    m.codeStd!.assign(std);
    const z = ls.prior(6, 9);
    assert.ok(maxAbs(z, tf.add(tf.mul(eps, std), mean)) < 1e-6);
    const s = m.sample(6, 9),
      d = ls.decode(z);
    assert.ok(maxAbs(s, d) < 1e-6);
    tf.dispose([eps, mean, std, z, s, d]);
    m.dispose();
  });

  for (const name of ['vae', 'ae']) {
    test(`${name}: encode gives mu [n, L]; decode(encode(x)) is the reconstruction, with labels as given`, () => {
      for (const kind of ['none', 'label']) {
        const m = make(name, { cond: { kind } }) as VaeModel;
        const ls = space(m);
        assert.ok(ls.encode);
        const x = tf.slice(X01, 0, 6);
        const labels = kind === 'label' ? LABELS.slice(0, 6) : undefined;
        const z = ls.encode(x, labels ? { labels } : {});
        assert.deepEqual(z.shape, [6, 4]);
        const r = ls.decode(z, labels ? { labels } : {});
        const ref = reconstruct(m.nets, x, labels);
        assert.deepEqual(r.shape, [6, H, H, 3]);
        assert.ok(maxAbs(r, ref) < 1e-6, `decode(encode(x)) vs reconstruct: ${maxAbs(r, ref)}`);
        if (kind === 'label') {
          // the condition reaches the encoder: other labels, other codes; none given, the null embedding
          const other = ls.encode(x, { labels: labels!.map((y) => (y + 1) % info.numClasses) });
          const none = ls.encode(x);
          assert.ok(maxAbs(z, other) > 1e-4 && maxAbs(z, none) > 1e-4);
          const nullRef = tf.tidy(() => m.nets.encode(x, m.nets.cond!.nullEmbed(6)).mu);
          assert.ok(maxAbs(none, nullRef) < 1e-6, 'encode without labels uses the null embedding');
          tf.dispose([other, none, nullRef]);
        }
        tf.dispose([x, z, r, ref]);
        m.dispose();
      }
    });
  }

  test('label-conditional VAE: decode honours labels, cycled over the rows, every class in turn by default', () => {
    const m = make('vae', { cond: { kind: 'label' } });
    const ls = space(m);
    const z = tf.tidy(() => tf.tile(ls.prior(1, 4), [6, 1]) as tf.Tensor2D); // one code, six rows
    const a = ls.decode(z, { labels: [0, 1] });
    const rows = tf.unstack(a);
    assert.ok(maxAbs(rows[0], rows[2]) < 1e-6 && maxAbs(rows[1], rows[3]) < 1e-6, 'labels cycle over the rows');
    assert.ok(maxAbs(rows[0], rows[1]) > 1e-4, 'labels 0 and 1 decode the same code differently');
    const only1 = ls.decode(z, { labels: [1] });
    assert.ok(maxAbs(tf.slice(only1, 0, 1), rows[1]) < 1e-6, 'a row decoded with label 1 is the same in both batches');
    const dflt = ls.decode(z);
    const every = ls.decode(z, { labels: Array.from({ length: 6 }, (_, i) => i % info.numClasses) });
    assert.equal(maxAbs(dflt, every), 0, 'no labels: every class in turn');
    userError(() => ls.decode(z, { labels: [info.numClasses] }), /out of range/);
    userError(() => ls.decode(z, { prompts: ['a red circle'] }), /not text-conditional/);
    tf.dispose([z, a, rows, only1, dflt, every]);
    m.dispose();
  });

  for (const kind of ['none', 'label']) {
    test(`flow (${kind}): encode is f(x) [n, H W C] and decode(encode(x)) gives the 8-bit image back`, () => {
      const m = make('flow', { cond: { kind } });
      const ls = space(m);
      assert.ok(ls.encode);
      const x = tf.slice(XDEQ, 0, 6);
      const opts = kind === 'label' ? { labels: LABELS.slice(0, 6) } : {};
      const z = ls.encode(x, opts);
      assert.deepEqual(z.shape, [6, H * H * 3]);
      const back = ls.decode(z, opts);
      const k8 = tf.tidy(() => tf.div(tf.tensor4d(K8.subarray(0, 6 * H * H * 3), [6, H, H, 3]), 255));
      assert.ok(maxAbs(back, k8) < 1e-6, `round trip to the 8-bit image: ${maxAbs(back, k8)}`);
      // k / 255 (scale01) lands in the same 8-bit bins
      const z01 = ls.encode(tf.slice(X01, 0, 6), opts);
      const back01 = ls.decode(z01, opts);
      assert.ok(maxAbs(back01, k8) < 1e-6, `round trip of k / 255: ${maxAbs(back01, k8)}`);
      if (kind === 'label') {
        const other = ls.encode(x, { labels: LABELS.slice(0, 6).map((y) => (y + 1) % info.numClasses) });
        assert.ok(maxAbs(z, other) > 1e-4, 'the labels condition the code');
        userError(() => ls.encode!(x, { prompts: ['a red circle'] }), /label-conditional/);
        other.dispose();
      } else userError(() => ls.encode!(x, { labels: [1] }), /not label-conditional/);
      tf.dispose([x, z, back, k8, z01, back01]);
      m.dispose();
    });
  }

  test('gan: no encoder; decode checks the code shape', () => {
    const m = make('gan');
    const ls = space(m);
    assert.equal(ls.encode, undefined);
    const bad = tf.zeros([2, ls.dim + 1]) as tf.Tensor2D;
    assert.throws(() => ls.decode(bad), /shape \[n, 8\]/);
    bad.dispose();
    m.dispose();
  });

  for (const name of ['vae', 'ae', 'flow', 'gan']) {
    for (const kind of ['none', 'label']) {
      test(`${name} (${kind}): prior, decode and encode leave no tensor behind`, () => {
        const m = make(name, { cond: { kind } });
        const ls = space(m);
        const x = name === 'flow' ? XDEQ : name === 'gan' ? null : X01;
        const opts = kind === 'label' ? { labels: [1, 2] } : {};
        const cycle = () => {
          const z = ls.prior(3, 1, 0.7);
          tf.dispose(ls.decode(z, opts));
          z.dispose();
          if (ls.encode && x) {
            const c = ls.encode(x, opts);
            tf.dispose(ls.decode(c, opts));
            c.dispose();
          }
        };
        cycle();
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) cycle();
        assert.equal(tf.memory().numTensors, before, 'numTensors grew');
        m.dispose();
      });
    }
  }
});

/** Every onPixel call, with copies of what the callee may not keep. */
function record(): {
  steps: (Omit<PixelStep, 'images'> & { ahead: number; at0: number[] })[];
  last: Float32Array | null;
  onPixel: (p: PixelStep) => void;
} {
  const rec = {
    steps: [] as (Omit<PixelStep, 'images'> & { ahead: number; at0: number[] })[],
    last: null as Float32Array | null,
    onPixel: (_: PixelStep) => {},
  };
  rec.onPixel = (p) => {
    const C = 3,
      per = H * H * C;
    const ch0 = p.channel < 0 ? 0 : p.channel,
      chs = p.channel < 0 ? C : 1;
    const i = (p.row * H + p.col) * C + ch0; // sample 0's value just drawn
    // the values of every sample after the one just drawn are still 0
    let ahead = 0;
    for (let b = 0; b < p.images.length / per; b++)
      for (let j = i + chs; j < per; j++) ahead += Math.abs(p.images[b * per + j]);
    rec.steps.push({
      row: p.row,
      col: p.col,
      channel: p.channel,
      probs: p.probs.slice(),
      colors: p.colors,
      drawn: p.drawn,
      ahead,
      at0: Array.from(p.images.subarray(i, i + chs)),
    });
    rec.last = p.images.slice();
  };
  return rec;
}

/** The checks common to both models: raster order, distributions, the drawn value's colour in the images. */
function checkSteps(
  rec: ReturnType<typeof record>,
  order: [number, number, number][],
  K: number,
  c: number,
  final: tf.Tensor4D,
): void {
  assert.equal(rec.steps.length, order.length, 'one call per drawn value');
  rec.steps.forEach((s, t) => {
    assert.deepEqual([s.row, s.col, s.channel], order[t], `call ${t} in raster order`);
    assert.equal(s.probs.length, K);
    assert.equal(s.colors.length, K * c);
    const sum = s.probs.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `probs sum to ${sum}`);
    assert.ok(s.probs.every((p) => p >= 0 && p <= 1));
    assert.ok(Number.isInteger(s.drawn) && s.drawn >= 0 && s.drawn < K);
    assert.ok(s.probs[s.drawn] > 0, `drawn ${s.drawn} has probability ${s.probs[s.drawn]}`);
    assert.deepEqual(
      s.at0,
      Array.from(s.colors.subarray(s.drawn * c, (s.drawn + 1) * c)),
      "images hold the drawn value's colour",
    );
    assert.equal(s.ahead, 0, 'values not yet drawn are 0');
  });
  assert.deepEqual(Array.from(rec.last!), Array.from(final.dataSync()), 'the last images are the samples');
}

describe('onPixel', () => {
  const pixelOrder = Array.from(
    { length: H * H * 3 },
    (_, i) => [Math.floor(i / (3 * H)), Math.floor(i / 3) % H, i % 3] as [number, number, number],
  );
  const tokenOrder = Array.from(
    { length: H * H },
    (_, p) => [Math.floor(p / H), p % H, -1] as [number, number, number],
  );

  const pixelVariants: { name: string; over: Plain; opts: SampleOptions; K: number }[] = [
    { name: 'categorical', over: {}, opts: {}, K: 256 },
    { name: 'bernoulli', over: { output: 'bernoulli' }, opts: {}, K: 2 },
    {
      name: 'label-conditional, guided',
      over: { cond: { kind: 'label' } },
      opts: { labels: [1, 3], guidance: 2.5 },
      K: 256,
    },
  ];
  for (const v of pixelVariants) {
    test(`pixelcnn (${v.name}): one call per channel value in raster order, K values, the samples unchanged`, () => {
      const m = make('pixelcnn', v.over);
      const plain = m.sample(2, 21, v.opts);
      const rec = record();
      const before = tf.memory().numTensors;
      const s = m.sample(2, 21, { ...v.opts, onPixel: rec.onPixel });
      assert.equal(tf.memory().numTensors, before + 1, 'only the samples are left');
      assert.deepEqual(Array.from(s.dataSync()), Array.from(plain.dataSync()), 'onPixel does not change the samples');
      checkSteps(rec, pixelOrder, v.K, 1, s);
      assert.deepEqual(
        Array.from(rec.steps[0].colors),
        Array.from({ length: v.K }, (_, k) => Math.fround(k / (v.K - 1))),
      );
      tf.dispose([plain, s]);
      m.dispose();
    });
  }

  const tokenVariants: { name: string; over: Plain; opts: SampleOptions & { kvCache?: boolean } }[] = [
    { name: 'unconditional, cached', over: {}, opts: {} },
    { name: 'unconditional, uncached', over: {}, opts: { kvCache: false } },
    {
      name: 'label-conditional, guided, cached',
      over: { cond: { kind: 'label' } },
      opts: { labels: [2, 0], guidance: 3 },
    },
    {
      name: 'label-conditional, guided, uncached',
      over: { cond: { kind: 'label' } },
      opts: { labels: [2, 0], guidance: 3, kvCache: false },
    },
  ];
  for (const v of tokenVariants) {
    test(`igpt (${v.name}): one call per pixel in raster order over the palette, the samples unchanged`, () => {
      const m = make('igpt', v.over) as GenerativeModel & { palette: { vocab: number; colors: Float32Array } };
      const plain = m.sample(3, 8, v.opts);
      const rec = record();
      const before = tf.memory().numTensors;
      const s = m.sample(3, 8, { ...v.opts, onPixel: rec.onPixel });
      assert.equal(tf.memory().numTensors, before + 1, 'only the samples are left');
      assert.deepEqual(Array.from(s.dataSync()), Array.from(plain.dataSync()), 'onPixel does not change the samples');
      const V = m.palette.vocab;
      assert.equal(V, 64);
      checkSteps(rec, tokenOrder, V, 3, s);
      assert.deepEqual(Array.from(rec.steps[0].colors), Array.from(m.palette.colors));
      tf.dispose([plain, s]);
      m.dispose();
    });
  }

  test('igpt: guidance reaches the reported distribution', () => {
    const m = make('igpt', { cond: { kind: 'label' } });
    const probs = (guidance: number) => {
      let first: Float32Array | null = null;
      tf.dispose(m.sample(1, 8, { labels: [2], guidance, onPixel: (p) => (first ??= p.probs.slice()) }));
      return first!;
    };
    const a = probs(1),
      b = probs(4);
    assert.ok(
      a.some((p, k) => Math.abs(p - b[k]) > 1e-4),
      'w = 4 reports another distribution than w = 1',
    );
    m.dispose();
  });
});
