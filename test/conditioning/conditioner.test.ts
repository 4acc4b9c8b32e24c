// Tests for the Conditioner: label and text embeddings, the null row, seeded drop masks, user errors, gradients
// through the text encoder, padding invariance and no tensor leak, on every backend we ship.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { initBackend } from '../../src/node/backend.ts';
import { registerNativeBackend } from '../../src/node/native/backend.ts';
import { condSchema } from '../../src/core/conditioning/config.ts';
import { Conditioner } from '../../src/core/conditioning/conditioner.ts';
import { TextEncoder } from '../../src/core/conditioning/text-encoder.ts';
import { Tokenizer } from '../../src/core/conditioning/tokenizer.ts';
import { ParamStore } from '../../src/core/nn/params.ts';
import type { DataInfo } from '../../src/core/family.ts';
import { BpeTokenizer, learnMerges } from '../../src/core/conditioning/bpe.ts';
import { getFamily } from '../../src/core/registry.ts';
import { userError } from '../helpers/assert.ts';

const CLASSES = ['circle', 'square', 'triangle'];
const VOCAB = [
  'a',
  'at',
  'blue',
  'bottom',
  'circle',
  'large',
  'left',
  'red',
  'right',
  'small',
  'square',
  'the',
  'top',
  'triangle',
];
const INFO: DataInfo = { height: 8, width: 8, channels: 3, numClasses: 3, classNames: CLASSES, vocabulary: VOCAB };

function make(over: Record<string, unknown>, info: DataInfo = INFO, seed = 1) {
  const params = new ParamStore(seed);
  const cond = new Conditioner(condSchema.parse({ dim: 8, textHeads: 2, maxTokens: 8, ...over }), info, params);
  return { params, cond };
}

const disposeSeq = (c: { vec: tf.Tensor; seq: tf.Tensor; mask: tf.Tensor }) => tf.dispose([c.vec, c.seq, c.mask]);

const close = (a: tf.Tensor, b: tf.Tensor, tol = 1e-5) => {
  const x = a.dataSync();
  const y = b.dataSync();
  assert.equal(x.length, y.length);
  for (let i = 0; i < x.length; i++)
    assert.ok(Math.abs(x[i] - y[i]) <= tol * (1 + Math.abs(y[i])), `at ${i}: ${x[i]} vs ${y[i]}`);
};

test('condSchema: defaults, unknown keys rejected, dim divisible by heads', () => {
  assert.deepEqual(condSchema.parse({}), {
    kind: 'none',
    dim: 128,
    dropProb: 0.1,
    textLayers: 1,
    textHeads: 4,
    maxTokens: 16,
    tokenizer: 'word',
    merges: 800,
  });
  assert.equal(condSchema.safeParse({ kindd: 'text' }).success, false);
  assert.equal(condSchema.safeParse({ kind: 'text', dim: 10, textHeads: 4 }).success, false);
  assert.equal(condSchema.safeParse({ kind: 'label', dim: 10, textHeads: 4 }).success, true);
});

test('dropMask is seeded and drops about dropProb of the rows', () => {
  const { cond, params } = make({ kind: 'label', dropProb: 0.3 });
  assert.deepEqual(cond.dropMask(64, 5), cond.dropMask(64, 5));
  assert.notDeepEqual(cond.dropMask(64, 5), cond.dropMask(64, 6));
  const rate = cond.dropMask(10000, 9).filter(Boolean).length / 10000;
  assert.ok(Math.abs(rate - 0.3) < 0.02, `rate ${rate}`);
  const { cond: never } = make({ kind: 'label', dropProb: 0 });
  assert.ok(!never.dropMask(1000, 1).some(Boolean));
  params.dispose();
});

test('user errors: no classes, no vocabulary, missing y, label out of range, kind mismatch', () => {
  userError(
    () => make({ kind: 'label' }, { ...INFO, numClasses: 0, classNames: undefined }),
    /cond\.kind=label needs a labelled dataset/,
  );
  userError(
    () => make({ kind: 'text' }, { ...INFO, vocabulary: undefined }),
    /cond\.kind=text needs a dataset with captions/,
  );
  const { cond: lab } = make({ kind: 'label' });
  userError(() => lab.embed({}, 2), /label-conditional; pass a class label/);
  userError(
    () => lab.embed({ labels: [0, 3] }, 2),
    /label 3 is out of range: this model has 3 classes \(0\.\.2\): 0 circle, 1 square, 2 triangle/,
  );
  userError(() => lab.embed({ labels: tf.tensor1d([-1, 0], 'int32') }, 2), /label -1 is out of range/);
  userError(() => lab.checkPrompts(['a circle']), /not text-conditional/);
  const { cond: txt } = make({ kind: 'text' });
  userError(() => txt.embed({ labels: [0] }, 1), /text-conditional; pass a prompt/);
  userError(
    () => txt.checkPrompts(['a pink circle']),
    /"pink" is not in this model's vocabulary; known words: a, at, blue/,
  );
  userError(() => txt.checkLabels([0]), /not label-conditional/);
  assert.throws(() => make({ kind: 'none' }).cond.embed({ labels: [0] }, 1));
});

test('text with tokenizer bpe: unseen words embed (no error, no leak); the word default still rejects them', () => {
  const { cond, params } = make({ kind: 'text', tokenizer: 'bpe', merges: 40, maxTokens: 24 });
  assert.ok(cond.tokenizer instanceof BpeTokenizer);
  assert.deepEqual((cond.tokenizer as BpeTokenizer).merges, learnMerges(VOCAB, 40), 'no merges in INFO: learned');
  assert.deepEqual(params.vars['cond.text.tok'].shape, [cond.tokenizer!.size, 8], 'one embedding row per token id');
  const prompts = ['a big purplish square', 'a blue squircle at the topmost left', 'a red circle', 'the triangle'];
  assert.doesNotThrow(() => cond.checkPrompts(prompts));
  const run = () => tf.tidy(() => tf.add(cond.embed({ prompts }, 4, [false, true, false, false]), 0));
  tf.dispose(run());
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const e = run();
    assert.ok(e.dataSync().every(Number.isFinite));
    e.dispose();
    disposeSeq(cond.embedSeq({ prompts }, 4));
  }
  assert.equal(tf.memory().numTensors, before, 'numTensors grew');
  userError(
    () => cond.checkPrompts(['a red circle', 'purplish squircles at the topmost bottom']),
    /has \d+ subword tokens \(6 words\); this model reads at most 24 \(model\.cond\.maxTokens\)/,
  );
  params.dispose();
  // stored merges are used as they are; the word default is unchanged
  const merges = learnMerges(VOCAB, 5);
  const { cond: stored, params: p2 } = make({ kind: 'text', tokenizer: 'bpe' }, { ...INFO, merges });
  assert.deepEqual((stored.tokenizer as BpeTokenizer).merges, merges);
  p2.dispose();
  const { cond: word, params: p3 } = make({ kind: 'text' }, { ...INFO, merges });
  assert.equal(word.tokenizer!.kind, 'word');
  userError(
    () => word.checkPrompts(['a big purplish square']),
    /prompt word "big" is not in this model's vocabulary; known words: a, at, blue/,
  );
  p3.dispose();
});

for (const family of ['diffusion', 'oneshot'] as const)
  test(`tiny ${family} with cond.tokenizer bpe: builds, samples a prompt with unseen words, no tensor leak`, () => {
    const fam = getFamily(family);
    const textCond = { kind: 'text', dim: 16, textHeads: 2, merges: 60 };
    const cfg = fam.modelSchema.parse({
      ...fam.defaults.model,
      ...fam.tinyPreset,
      cond: { ...textCond, tokenizer: 'bpe' },
    });
    const m = fam.create(cfg, INFO, 1);
    const opts = { prompts: ['a big purplish square', 'a red circle'], steps: 2 };
    tf.dispose(m.sample(2, 1, opts));
    const before = tf.memory().numTensors;
    const x = m.sample(2, 1, opts);
    assert.deepEqual(x.shape, [2, 8, 8, 3]);
    assert.ok(x.dataSync().every(Number.isFinite));
    x.dispose();
    assert.equal(tf.memory().numTensors, before, 'numTensors grew');
    m.dispose();
    // the same model with the word tokenizer rejects the unseen words, as before
    const word = fam.create(
      fam.modelSchema.parse({ ...(cfg as object), cond: { ...textCond, tokenizer: 'word' } }),
      INFO,
      1,
    );
    userError(() => word.sample(2, 1, opts), /"big" is not in this model's vocabulary/);
    word.dispose();
  });

const BACKENDS = [
  'cpu',
  'wasm',
  ...(registerNativeBackend().ok || process.env.DEEPGEN_REQUIRE_NATIVE ? ['native'] : []),
];

for (const backend of BACKENDS) {
  describe(`conditioning on ${backend}`, () => {
    before(async () => {
      await initBackend(backend);
    });

    test('label embedding: [B, dim], rows are table rows, dropped rows are the null row', () => {
      const { cond, params } = make({ kind: 'label' });
      const e = cond.embed({ labels: [0, 2, 0] }, 3);
      assert.deepEqual(e.shape, [3, 8]);
      const rows = e.arraySync() as number[][];
      const table = params.vars['cond.label'].arraySync() as number[][];
      assert.deepEqual(rows[0], rows[2]);
      rows.forEach((r, i) => r.forEach((v, j) => assert.ok(Math.abs(v - table[[0, 2, 0][i]][j]) < 1e-6)));
      const nul = cond.nullEmbed(3);
      assert.deepEqual(nul.shape, [3, 8]);
      const d = cond.embed({ labels: tf.tensor1d([1, 1, 2], 'int32') }, 3, [true, false, true]);
      const dr = d.arraySync() as number[][];
      const nr = nul.arraySync() as number[][];
      assert.deepEqual(dr[0], nr[0]);
      assert.deepEqual(dr[2], nr[2]);
      dr[1].forEach((v, j) => assert.ok(Math.abs(v - table[1][j]) < 1e-6));
      tf.dispose([e, nul, d]);
      params.dispose();
    });

    test('sequence form: vec equals embed, a label is one row, text rows are words + padding, dropped rows are the null sequence', () => {
      for (const kind of ['label', 'text'] as const) {
        const { cond, params } = make({ kind });
        const y =
          kind === 'label'
            ? { labels: [0, 2, 1] }
            : { prompts: ['a small red circle', 'blue square', 'the triangle at the bottom right'] };
        const S = kind === 'label' ? 1 : 8;
        assert.equal(cond.seqLen, S);
        const e = cond.embed(y, 3),
          q = cond.embedSeq(y, 3);
        assert.deepEqual(q.seq.shape, [3, S, 8]);
        assert.deepEqual(q.mask.shape, [3, S]);
        close(q.vec, e);
        if (kind === 'label') close(tf.reshape(q.seq, [3, 8]), e);
        else
          assert.deepEqual(
            Array.from(q.mask.dataSync()),
            [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0],
          );
        // the null sequence: the null vector in row 0, padding after it
        const n = cond.nullEmbedSeq(3);
        const nullRow = params.vars['cond.null'].dataSync();
        const ns = n.seq.arraySync() as number[][][];
        for (let b = 0; b < 3; b++) {
          ns[b][0].forEach((v, j) => assert.ok(Math.abs(v - nullRow[j]) < 1e-6));
          for (let t = 1; t < S; t++) assert.ok(ns[b][t].every((v) => v === 0));
        }
        assert.deepEqual(
          Array.from(n.mask.dataSync()),
          Array.from({ length: 3 * S }, (_, i) => (i % S === 0 ? 1 : 0)),
        );
        // dropping rows 0 and 2 gives the null sequence there and the condition in row 1
        const d = cond.embedSeq(y, 3, [true, false, true]);
        for (const [a, b, c] of [
          [d.seq, n.seq, q.seq],
          [d.mask, n.mask, q.mask],
          [d.vec, n.vec, q.vec],
        ] as tf.Tensor[][]) {
          const row = (x: tf.Tensor, i: number) => tf.slice(x, [i], [1]);
          close(row(a, 0), row(b, 0));
          close(row(a, 2), row(b, 2));
          close(row(a, 1), row(c, 1));
        }
        // a test batch: the condition when it carries one; a text batch without captions is evaluated unconditionally
        const ev = cond.evalEmbed(y, 3),
          evq = cond.evalEmbedSeq(y, 3);
        close(ev, e);
        close(evq.seq, q.seq);
        if (kind === 'text') {
          const none = cond.evalEmbed({ labels: null, prompts: null }, 3),
            noneSeq = cond.evalEmbedSeq({ prompts: null }, 3);
          close(none, n.vec);
          close(noneSeq.seq, n.seq);
          close(noneSeq.mask, n.mask);
          tf.dispose([none, noneSeq as unknown as tf.TensorContainer]);
        } else {
          assert.throws(() => cond.evalEmbed({ labels: null }, 3));
        }
        for (const x of [e, q, n, d, ev, evq]) tf.dispose(x as tf.TensorContainer);
        params.dispose();
      }
    });

    for (const textLayers of [1, 2, 0]) {
      test(`text encoder (${textLayers} layers): shape, padding invariance, different prompts differ`, () => {
        const { cond, params } = make({ kind: 'text', textLayers });
        const e = cond.embed(
          { prompts: ['a small red circle', 'a large blue square at the top left', 'a small red circle'] },
          3,
        );
        assert.deepEqual(e.shape, [3, 8]);
        const r = e.arraySync() as number[][];
        assert.ok(r.flat().every(Number.isFinite));
        close(tf.tensor(r[0]), tf.tensor(r[2]));
        assert.ok(
          r[0].some((v, j) => Math.abs(v - r[1][j]) > 1e-4),
          'different prompts, different embeddings',
        );
        // the same prompt padded to T = 4 (no padding) or T = 8, alone or batched with a longer one
        const tok = cond.tokenizer!;
        const enc = cond.textEncoder!;
        const ids4 = tok.tokenize('a small red circle', 8);
        const a = enc.encode(tf.tensor2d([ids4], [1, 4], 'int32'), tf.ones([1, 4]) as tf.Tensor2D);
        const { ids, mask } = tok.encode(['a small red circle'], 8);
        const b = enc.encode(tf.tensor2d(ids, [1, 8], 'int32'), tf.tensor2d(mask, [1, 8]));
        close(a, b);
        close(b, tf.slice(e, [0, 0], [1, 8]));
        // word order matters once there is attention over positions
        if (textLayers > 0) {
          const s = cond.embed({ prompts: ['red circle', 'circle red'] }, 2).arraySync() as number[][];
          assert.ok(
            s[0].some((v, j) => Math.abs(v - s[1][j]) > 1e-4),
            'word order changes the embedding',
          );
        }
        tf.dispose([e, a, b]);
        params.dispose();
      });

      test(`text encoder (${textLayers} layers): gradients reach every variable`, () => {
        const { cond, params } = make({ kind: 'text', textLayers });
        const prompts = ['a small red circle', 'blue square', 'the triangle at the bottom right'];
        const target = tf.randomNormal([3, 8], 0, 1, 'float32', 3);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(tf.sub(cond.embed({ prompts }, 3, [false, true, false]), target))) as tf.Scalar,
        );
        const names = Object.keys(params.vars);
        assert.ok(names.includes('cond.text.tok') && names.includes('cond.null'));
        if (textLayers > 0)
          assert.ok(names.includes('cond.text.block0.attn.q.weight') && names.includes('cond.text.pos'));
        for (const [name, v] of Object.entries(params.vars)) {
          const g = grads[v.name];
          assert.ok(g, `no gradient for ${name}`);
          const gd = g.dataSync();
          assert.ok(gd.every(Number.isFinite), `non-finite gradient for ${name}`);
          assert.ok(
            gd.some((x) => x !== 0),
            `zero gradient for ${name}`,
          );
        }
        tf.dispose([value, target, ...Object.values(grads)]);
        params.dispose();
      });
    }

    test('no tensor leak across repeated embed calls', () => {
      for (const kind of ['label', 'text']) {
        const { cond, params } = make({ kind });
        const y =
          kind === 'label'
            ? { labels: [0, 1, 2, 1] }
            : { prompts: ['a red circle', 'blue square', 'the top left', 'a triangle'] };
        const run = (i: number) => tf.tidy(() => tf.add(cond.embed(y, 4, cond.dropMask(4, i)), cond.nullEmbed(4)));
        tf.dispose(run(0));
        const before = tf.memory().numTensors;
        for (let i = 1; i < 20; i++) tf.dispose(run(i));
        tf.tidy(() => {
          for (let i = 0; i < 5; i++) cond.embed(y, 4);
        });
        assert.equal(tf.memory().numTensors, before, `${kind}: numTensors grew`);
        params.dispose();
      }
    });

    test('TextEncoder can be used on its own with a tokenizer', () => {
      const ps = new ParamStore(2);
      const tok = new Tokenizer(VOCAB);
      const enc = new TextEncoder(ps, 'txt', { vocabSize: tok.size, dim: 12, layers: 1, heads: 3, maxTokens: 6 });
      const { ids, mask } = tok.encode(['a circle', 'a red square'], 6);
      const e = enc.encode(tf.tensor2d(ids, [2, 6], 'int32'), tf.tensor2d(mask, [2, 6]));
      assert.deepEqual(e.shape, [2, 12]);
      assert.ok(Object.keys(ps.vars).every((k) => k.startsWith('txt.')));
      e.dispose();
      ps.dispose();
    });
  });
}
