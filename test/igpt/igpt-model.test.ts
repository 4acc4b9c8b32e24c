// The image GPT family beyond the contract suite, on every backend: causality (the prediction for token i does not
// change, and has exactly zero gradient, when any token j >= i changes), the key/value-cached step equals the full
// pass, the palette and the 8-bit likelihood formula, seeded sampling with one frame per row, guidance and errors.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { TEST_BACKEND } from '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { registerNativeBackend } from '../../src/node/native/backend.ts';
import { igptFamily, IgptModel } from '../../src/core/families/igpt/index.ts';
import { Palette } from '../../src/core/families/igpt/palette.ts';
import { disposeCache, type LayerCache } from '../../src/core/families/igpt/model.ts';
import { drawCategorical } from '../../src/core/families/igpt/sample.ts';
import { Rng } from '../../src/core/tensor/rng.ts';
import { Trainer } from '../../src/core/train/trainer.ts';
import { trainSchema } from '../../src/core/config/schema.ts';
import type { DataInfo } from '../../src/core/family.ts';

const grey: DataInfo = { height: 6, width: 5, channels: 1, numClasses: 0 };
const labelled: DataInfo = {
  height: 6,
  width: 6,
  channels: 3,
  numClasses: 3,
  classNames: ['a', 'b', 'c'],
  vocabulary: ['a', 'blue', 'red', 'square'],
};

function model(info: DataInfo, over: Record<string, unknown> = {}, seed = 3, perturb = true): IgptModel {
  const cfg = igptFamily.modelSchema.parse({
    ...igptFamily.defaults.model,
    ...igptFamily.tinyPreset,
    layers: 2,
    ...over,
  });
  const m = new IgptModel(cfg, info, seed);
  // larger random weights than the init so attention and the condition visibly matter
  if (perturb)
    for (const v of Object.values(m.params.vars))
      v.assign(tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.3, 'float32', seed + 17))));
  return m;
}

const randomTokens = (B: number, N: number, V: number, seed: number) => {
  const rng = new Rng(seed);
  return Int32Array.from({ length: B * N }, () => rng.int(V));
};

const BACKENDS = ['cpu', 'wasm', ...(registerNativeBackend().ok ? ['native'] : [])];

for (const backend of BACKENDS) {
  describe(`igpt on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    test('causality: changing token j changes no prediction for tokens i <= j, and their gradient w.r.t. token j is exactly 0', () => {
      const m = model(grey);
      const N = m.seqLen,
        V = m.palette.vocab,
        B = 2;
      const rng = new Rng(1);
      const base = randomTokens(B, N, V, 2);
      const inputs = (t: Int32Array) => tf.tensor2d(t, [B, N], 'int32');
      const x0 = inputs(base);
      const ref = m.logits(x0, null); // [B, N, V]: position p predicts token p (0-based), from tokens < p
      for (let trial = 0; trial < 8; trial++) {
        const j = rng.int(N);
        const changed = Int32Array.from(base);
        for (let b = 0; b < B; b++) changed[b * N + j] = (base[b * N + j] + 1 + rng.int(V - 1)) % V;
        const x1 = inputs(changed);
        const out = m.logits(x1, null);
        const [a, c] = [ref.arraySync(), out.arraySync()];
        for (let b = 0; b < B; b++) {
          for (let p = 0; p <= j; p++)
            assert.deepEqual(c[b][p], a[b][p], `token ${j} changed the prediction for token ${p}`);
          if (j + 1 < N) assert.notDeepEqual(c[b][j + 1], a[b][j + 1], `token ${j} should matter for token ${j + 1}`);
        }
        tf.dispose([x1, out]);
      }
      // the Jacobian, through the hand-written attention gradient: d logits_i / d onehot(t_j) = 0 for every j >= i
      const s = m.net.startVector(null, B);
      const oh = tf.tidy(() =>
        tf.cast(
          tf.slice(
            tf.reshape(tf.oneHot(tf.tensor1d(base.subarray(0, B * N), 'int32'), V), [B, N, V]),
            [0, 0, 0],
            [B, N - 1, V],
          ),
          'float32',
        ),
      ) as tf.Tensor3D;
      for (const i of [0, 3, Math.floor(N / 2), N - 2, N - 1]) {
        const w = tf.randomNormal([B, 1, V], 0, 1, 'float32', 5 + i);
        const g = tf.grad((e: tf.Tensor) =>
          tf.sum(tf.mul(tf.slice(m.net.forward(e as tf.Tensor3D, s), [0, i, 0], [B, 1, V]), w)),
        )(oh); // [B, N-1, V]
        const gd = g.arraySync() as number[][][];
        // input row r carries token r + 1 (1-based t_{r+1}), which is token index r: rows r >= i must be exactly 0
        for (let b = 0; b < B; b++) {
          for (let r = 0; r < N - 1; r++) {
            const mx = Math.max(...gd[b][r].map(Math.abs));
            if (r >= i) assert.equal(mx, 0, `gradient of prediction ${i} w.r.t. token ${r} is ${mx}`);
            else if (r === i - 1) assert.ok(mx > 0, `prediction ${i} depends on token ${r}`);
          }
        }
        tf.dispose([w, g]);
      }
      tf.dispose([x0, ref, s, oh]);
      m.dispose();
    });

    for (const kind of ['none', 'label', 'text'] as const) {
      test(`the cached step-by-step logits equal the full pass (${kind})`, () => {
        const info = kind === 'none' ? grey : labelled;
        const m = model(info, { cond: { kind, dim: 16, textHeads: 2 } });
        const N = m.seqLen,
          V = m.palette.vocab,
          B = 3;
        const toks = randomTokens(B, N, V, 7);
        const c = !m.cond
          ? null
          : kind === 'label'
            ? m.cond.embed({ labels: [0, 2, 1] }, B)
            : m.cond.embed({ prompts: ['a red square', 'a blue square', 'blue'] }, B);
        const t = tf.tensor2d(toks, [B, N], 'int32');
        const full = m.logits(t, c); // [B, N, V]
        const s = m.net.startVector(c, B);
        let cache: LayerCache[] = [];
        let maxDiff = 0;
        for (let p = 0; p < N; p++) {
          const x = m.net.stepInput(
            p,
            p === 0 ? null : Int32Array.from({ length: B }, (_, b) => toks[b * N + p - 1]),
            s,
          );
          const out = m.net.step(x, cache);
          cache = out.cache;
          maxDiff = Math.max(
            maxDiff,
            tf.tidy(
              () =>
                tf
                  .max(tf.abs(tf.sub(tf.reshape(tf.slice(full, [0, p, 0], [B, 1, V]), [B, V]), out.logits)))
                  .dataSync()[0],
            ),
          );
          tf.dispose([x, out.logits]);
        }
        assert.ok(N > m.net.cacheBlock, 'the test crosses a cache block boundary');
        assert.ok(maxDiff < 1e-4, `cached vs full logits differ by ${maxDiff}`);
        disposeCache(cache);
        tf.dispose([t, full, s, c ?? []]);
        m.dispose();
      });
    }

    if (backend !== 'cpu') {
      test('a training batch that cannot fit in the 4 GB wasm heap is refused with a batch size that fits', () => {
        const m = new IgptModel(
          igptFamily.modelSchema.parse(igptFamily.defaults.model),
          { height: 28, width: 28, channels: 1, numClasses: 0 },
          1,
        );
        const x = tf.zeros([64, 28, 28, 1]) as tf.Tensor4D;
        assert.throws(
          () => m.loss(x, null, 1),
          (e: Error) =>
            e.name === 'UserError' && /train.batchSize=21 or smaller/.test(e.message) && !e.message.includes('\n'),
        );
        x.dispose();
        m.dispose();
      });
    }

    test('training steps (Adam through the hand-written attention gradient) lower the loss, label-conditional', () => {
      const m = model(labelled, { cond: { kind: 'label', dim: 16 } }, 3, false);
      const x = tf.randomUniform([8, 6, 6, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
      const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
      const tr = new Trainer(m.params.vars, trainSchema.parse({ lr: 3e-3, clipNorm: 1 }), 100);
      const first = tr.trainStep(() => m.loss(x, y, 1)).loss;
      let last = first;
      for (let i = 0; i < 15; i++) last = tr.trainStep(() => m.loss(x, y, 2 + i)).loss;
      assert.ok(Number.isFinite(last) && last < first * 0.9, `loss ${first} -> ${last}`);
      tr.dispose();
      tf.dispose([x, y]);
      m.dispose();
    });

    test('no tensor leak in the cached and reference samplers, guided and not', () => {
      const m = model(labelled, { cond: { kind: 'label', dim: 16 } });
      const run = () => {
        m.sampleTokens(2, 1, { labels: [1] });
        m.sampleTokens(2, 1, { labels: [1], guidance: 2 });
        m.sampleTokens(2, 1, { labels: [1], guidance: 2, kvCache: false });
        tf.dispose(m.sample(2, 1, { labels: [0], onFrame: () => {} }));
      };
      run();
      const before = tf.memory().numTensors;
      run();
      assert.equal(tf.memory().numTensors, before);
      m.dispose();
    });
  });
}

describe('igpt (default backend)', () => {
  before(async () => {
    await initBackend(TEST_BACKEND);
  });

  test('palette: bins partition 0..255 for every number of levels; tokens round trip; tf and JS encodings agree', () => {
    for (let L = 2; L <= 256; L++) {
      const p = new Palette(L, 1);
      let next = 0;
      for (let k = 0; k < L; k++) {
        const [lo, hi] = p.binRange(k);
        assert.equal(lo, next, `L=${L} k=${k}`);
        assert.ok(hi >= lo);
        for (const v of [lo, hi]) assert.equal(p.level(v), k);
        next = hi + 1;
        // decode -> 8-bit value -> encode gives the token back
        assert.equal(p.encodeValues([Math.round(p.colors[k] * 255)])[0], k);
        assert.ok(Math.abs(p.logBin[k] - Math.log(hi - lo + 1)) < 1e-6);
      }
      assert.equal(next, 256);
      assert.equal(p.colors[0], 0);
      assert.equal(p.colors[L - 1], 1);
    }
    const rgb = new Palette(4, 3);
    assert.equal(rgb.vocab, 64);
    // the colour grid: token = r*16 + g*4 + b; bins of 64^3 colours
    assert.deepEqual(Array.from(rgb.encodeValues([255, 0, 70, 64, 128, 192])), [
      3 * 16 + 0 * 4 + 1,
      1 * 16 + 2 * 4 + 3,
    ]);
    assert.ok(Math.abs(rgb.logBin[5] - 3 * Math.log(64)) < 1e-5);
    for (const [L, C] of [
      [16, 1],
      [7, 1],
      [256, 1],
      [4, 3],
      [5, 3],
    ]) {
      const p = new Palette(L, C);
      const v8 = Int32Array.from({ length: 2 * 3 * 4 * C }, (_, i) => (i * 97 + 13) % 256);
      const x = tf.div(tf.tensor4d(v8, [2, 3, 4, C], 'float32'), 255) as tf.Tensor4D;
      const t = p.encode(x);
      assert.deepEqual(Array.from(t.dataSync()), Array.from(p.encodeValues(v8)), `L=${L} C=${C}`);
      // decode(tokens) re-encodes to the same tokens
      const back = p.decodeTensor(t, 3, 4);
      const t2 = p.encode(back);
      assert.deepEqual(Array.from(t2.dataSync()), Array.from(t.dataSync()));
      tf.dispose([x, t, back, t2]);
    }
    assert.throws(() => new Palette(4, 2), /grey \(1 channel\) or RGB/);
  });

  test('8-bit likelihood: uniform logits give exactly log 256 nats per dimension (8 bits/dim); uneven bins add log |bin|', () => {
    for (const [info, over] of [
      [grey, { levels: 16 }],
      [grey, { levels: 256 }],
      [{ ...grey, channels: 3 }, { colorLevels: 4 }],
    ] as const) {
      const m = model(info, over, 3, false);
      // a zero head gives logits 0 everywhere: p(t_i | t_<i) = 1/V
      for (const name of ['head.weight', 'head.bias']) m.params.vars[name].assign(tf.zerosLike(m.params.vars[name]));
      const D = info.height * info.width * info.channels;
      const x = tf.randomUniform([3, info.height, info.width, info.channels], 0, 1, 'float32', 4) as tf.Tensor4D;
      const r = m.evaluate([{ x, y: null }], { iwaeK: 0, seed: 0 });
      assert.equal(r.n, 3);
      assert.equal(r.likelihood!.kind, 'exact');
      assert.ok(
        Math.abs(r.likelihood!.nats - D * Math.log(256)) < 1e-3 * D,
        `nll ${r.likelihood!.nats} vs ${D * Math.log(256)}`,
      );
      assert.ok(Math.abs(r.likelihood!.bitsPerDim - 8) < 1e-4, `bits/dim ${r.likelihood!.bitsPerDim}`);
      const l = m.loss(x, null, 1);
      assert.ok(
        Math.abs(l.loss.dataSync()[0] - m.seqLen * Math.log(m.palette.vocab)) < 1e-3 * m.seqLen,
        'the loss is -log p(tokens)',
      );
      assert.ok(Math.abs(l.terms.bitsPerDim.dataSync()[0] - 8) < 1e-4);
      tf.dispose([x, l.loss, l.terms.bitsPerDim]);
      m.dispose();
    }
    // 10 grey levels: bins of 25 or 26 values; nll = N log 10 + sum_i log |bin(x_i)|, computed by hand
    const m = model(grey, { levels: 10 }, 3, false);
    for (const name of ['head.weight', 'head.bias']) m.params.vars[name].assign(tf.zerosLike(m.params.vars[name]));
    const v8 = Int32Array.from({ length: 30 }, (_, i) => (i * 41) % 256);
    const x = tf.div(tf.tensor4d(v8, [1, 6, 5, 1], 'float32'), 255) as tf.Tensor4D;
    const byHand = Array.from(v8).reduce((s, v) => {
      const k = Math.floor((v * 10) / 256);
      return s + Math.log(10) + Math.log(Math.ceil((256 * (k + 1)) / 10) - Math.ceil((256 * k) / 10));
    }, 0);
    const r = m.evaluate([{ x, y: null }], { iwaeK: 0, seed: 0 });
    assert.ok(Math.abs(r.likelihood!.nats - byHand) < 1e-3, `${r.likelihood!.nats} vs ${byHand}`);
    x.dispose();
    m.dispose();
  });

  test('categorical draws follow the softmax', () => {
    const l = Float32Array.from([0, Math.log(3), -Infinity, 0]);
    const rng = new Rng(3);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[drawCategorical(l, 0, 4, rng.uniform())]++;
    assert.equal(counts[2], 0);
    assert.ok(Math.abs(counts[1] / 20000 - 0.6) < 0.02 && Math.abs(counts[0] / 20000 - 0.2) < 0.02, counts.join(','));
    assert.equal(drawCategorical(l, 0, 4, 0.9999999999), 3);
  });

  test('sampling: seeded, one frame per row filling in top to bottom; cached and reference samplers agree', () => {
    const m = model(grey);
    const { height: H, width: W } = grey;
    const frames: Float32Array[] = [];
    const steps: [number, number][] = [];
    const a = m.sample(3, 9, {
      onFrame: (img, step, total) => {
        assert.deepEqual(img.shape, [3, H, W, 1]);
        frames.push(img.dataSync() as Float32Array);
        steps.push([step, total]);
      },
    });
    const b = m.sample(3, 9),
      c = m.sample(3, 10);
    const ad = a.dataSync();
    assert.deepEqual(Array.from(ad), Array.from(b.dataSync()));
    assert.notDeepEqual(Array.from(ad), Array.from(c.dataSync()));
    assert.deepEqual(
      steps,
      Array.from({ length: H }, (_, r) => [r + 1, H]),
    );
    // frame r: rows < r as in the final image, rows >= r still black
    frames.forEach((f, r) => {
      for (let i = 0; i < 3; i++) {
        for (let p = 0; p < H * W; p++) {
          const v = f[i * H * W + p];
          if (Math.floor(p / W) <= r) assert.equal(v, ad[i * H * W + p]);
          else assert.equal(v, 0);
        }
      }
    });
    assert.deepEqual(Array.from(m.sampleTokens(3, 9)), Array.from(m.sampleTokens(3, 9, { kvCache: false })));
    // given tokens are kept and the rest is sampled from them
    const given = randomTokens(2, m.seqLen, m.palette.vocab, 4);
    const done = m.sampleTokens(2, 1, {}, { given: { tokens: given, count: 10 } });
    for (let i = 0; i < 2; i++)
      assert.deepEqual(
        Array.from(done.subarray(i * m.seqLen, i * m.seqLen + 10)),
        Array.from(given.subarray(i * m.seqLen, i * m.seqLen + 10)),
      );
    tf.dispose([a, b, c]);
    m.dispose();
  });

  test('guidance: w = 0 samples the unconditional model, w = 1 the conditional one, cached = reference; errors are one line', () => {
    const m = model(labelled, { cond: { kind: 'text', dim: 16, textHeads: 2 } });
    const p = ['a red square', 'blue'];
    const uncond = m.sampleTokens(2, 4),
      w0 = m.sampleTokens(2, 4, { prompts: p, guidance: 0 });
    const w1 = m.sampleTokens(2, 4, { prompts: p, guidance: 1 }),
      w3 = m.sampleTokens(2, 4, { prompts: p, guidance: 3 });
    assert.deepEqual(Array.from(w0), Array.from(uncond));
    assert.notDeepEqual(Array.from(w1), Array.from(uncond));
    assert.notDeepEqual(Array.from(w3), Array.from(w1));
    assert.deepEqual(Array.from(m.sampleTokens(2, 4, { prompts: p, guidance: 3, kvCache: false })), Array.from(w3));
    assert.throws(() => m.sampleTokens(2, 4, { labels: [1] }), /text-conditional; pass a prompt instead of a label/);
    assert.throws(() => m.sampleTokens(2, 4, { prompts: ['a pink square'] }), /pink/);
    assert.throws(() => m.sampleTokens(2, 4, { prompts: p, guidance: -1 }), /guidance must be a number >= 0/);
    m.dispose();
    const u = model(grey);
    assert.throws(() => u.sampleTokens(2, 4, { labels: [1] }), /not label-conditional/);
    u.dispose();
    assert.throws(() => igptFamily.modelSchema.parse({ dim: 30, heads: 4 }), /divisible/);
  });

  test('pictures: completions of test images (and one row per class for label models)', () => {
    const m = model(labelled, { cond: { kind: 'label', dim: 16 } });
    const x = tf.randomUniform([3, 6, 6, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const pics = m.pictures(x, [0, 1, 2], 1);
    assert.deepEqual(
      pics.map((p) => p.name),
      ['completions', 'classes'],
    );
    assert.deepEqual(pics[0].images.shape, [3 * 5, 6, 6, 3]);
    const img = pics[0].images.arraySync() as number[][][][];
    const t = m.tokens(x);
    const orig = m.palette.decodeTensor(t, 6, 6).arraySync() as number[][][][];
    t.dispose();
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(img[i * 5 + 4], orig[i], 'last column: the original (quantised)');
      for (let j = 0; j < 4; j++)
        assert.deepEqual(img[i * 5 + j].slice(0, 3), orig[i].slice(0, 3), 'the top half is given');
      assert.deepEqual(
        img[i * 5][3],
        Array.from({ length: 6 }, () => [0, 0, 0]),
        'the first column hides the bottom half',
      );
    }
    assert.deepEqual(pics[1].images.shape, [3 * 8, 6, 6, 3]);
    for (const p of pics) p.images.dispose();
    x.dispose();
    m.dispose();
  });
});
