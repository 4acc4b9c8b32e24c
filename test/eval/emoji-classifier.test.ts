// The emoji evaluation classifier on a synthetic emoji folder (colour = category, a frame = google): heads and labels
// from the records, augmentation, a tiny classifier far above chance on both heads with seen/held-out parts, the
// data set names that share it, and cond-eval's prompt sets (seen names from train only, held-out never in train).
import '../helpers/backend.ts';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { EMOJI_CATEGORIES, EMOJI_VENDORS, type EmojiDataset } from '../../src/core/data/emoji.ts';
import { augmentImages, EMOJI_HEADS, emojiLabels } from '../../src/core/eval/classifier.ts';
import { Rng } from '../../src/core/tensor/rng.ts';
import { initBackend } from '../../src/node/backend.ts';
import {
  classifierDatasetOf,
  getClassifier,
  parseClassifierDataset,
  readClassifierInfo,
} from '../../src/node/classifier-store.ts';
import { emojiPromptSets } from '../../src/node/cond-eval.ts';
import { loadDataset } from '../../src/node/data/datasets.ts';
import { emojiVendorsOf } from '../../src/node/data/emoji.ts';
import { userError } from '../helpers/assert.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';
import { writeEmojiFixture } from '../helpers/emoji-fixture.ts';

await initBackend('auto', { convTraining: true });

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-emoji-clf-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const DATA = path.join(TMP, 'emoji');
const RECORDS = writeEmojiFixture(DATA, { perCategory: 20, tones: true });
/** A tiny emoji classifier at 16x16 in the test's cache. */
const TINY_CLF = {
  size: 16,
  dataDir: DATA,
  epochs: 12,
  batchSize: 32,
  lr: 3e-3,
  net: { widths: [8, 16, 16] as [number, number, number], features: 32 },
  cacheRoot: TMP,
};

test('emoji heads: category (the nine categories) and vendor; labels from each image record', () => {
  assert.deepEqual(
    EMOJI_HEADS.map((h) => [h.name, h.classes.length]),
    [
      ['category', 9],
      ['vendor', 2],
    ],
  );
  assert.deepEqual(EMOJI_HEADS[0].classes, [...EMOJI_CATEGORIES]);
  assert.deepEqual(EMOJI_HEADS[1].classes, [...EMOJI_VENDORS]);
  const ds = loadDataset('emoji', { split: 'train', dataDir: DATA, size: 32 }) as EmojiDataset;
  const y = emojiLabels(ds);
  assert.equal(y.category.length, ds.n);
  ds.records.forEach((r, i) => {
    assert.equal(y.category[i], r.category);
    assert.equal(y.category[i], ds.labels[i]);
    assert.equal(EMOJI_VENDORS[y.vendor[i]], r.vendor);
  });
  assert.ok(new Set(y.vendor).size === 2, 'both vendors in training');
});

test('augmentImages: a flip mirrors, a shift repeats the edge; seeded', () => {
  const shape = { height: 2, width: 3, channels: 1 };
  const img = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  // with flip only, each image is either itself or its mirror
  const flips = new Set<string>();
  const rng = new Rng(1);
  for (let i = 0; i < 20; i++) flips.add(augmentImages(img, shape, rng, { flip: true }).join(','));
  assert.deepEqual([...flips].sort(), ['1,2,3,4,5,6', '3,2,1,6,5,4']);
  // shifts keep every value one of the image's, and the same seed gives the same batch
  const two = Uint8Array.from([...img, ...img]);
  const a = augmentImages(two, shape, new Rng(5), { flip: true, shift: 1 });
  const b = augmentImages(two, shape, new Rng(5), { flip: true, shift: 1 });
  assert.deepEqual(a, b);
  assert.ok([...a].every((v) => v >= 1 && v <= 6));
  assert.deepEqual(augmentImages(img, shape, new Rng(5), {}), img, 'no augmentation: a copy of the same pixels');
});

test('emoji classifier: a tiny one learns category and vendor far above chance; seen and held-out names apart (~2 s)', async () => {
  const t0 = performance.now();
  const r = await getClassifier('emoji', { ...TINY_CLF, log: () => {} });
  r.classifier.dispose();
  const secs = (performance.now() - t0) / 1000;
  assert.equal(r.dir, path.join(TMP, 'classifiers', 'emoji-16x16'));
  const { testAccuracy: acc, testParts, testN } = r.info;
  assert.deepEqual(Object.keys(acc), ['category', 'vendor']);
  // chance: 1/9 for the category, 1/2 for the vendor
  assert.ok(acc.category > 0.6, `category accuracy ${acc.category}`);
  assert.ok(acc.vendor > 0.85, `vendor accuracy ${acc.vendor}`);
  const test_ = RECORDS.filter((x) => x.split !== 'train' && !x.tone);
  assert.equal(testN, test_.length);
  assert.deepEqual(Object.keys(testParts ?? {}), ['seen names', 'held-out names']);
  assert.equal(testParts!['seen names'].n, test_.filter((x) => x.split === 'test').length);
  assert.equal(testParts!['held-out names'].n, test_.filter((x) => x.split === 'heldout').length);
  for (const p of Object.values(testParts!)) assert.ok(p.accuracy.category > 0.4, JSON.stringify(p));
  assert.deepEqual(readClassifierInfo(r.dir)?.testParts, testParts);
  assert.ok(secs < 20, `trained in ${secs.toFixed(1)} s`);
});

test('emoji-google and emoji-twitter runs use the emoji classifier; a data set without one is a one-line error', () => {
  assert.equal(classifierDatasetOf('emoji'), 'emoji');
  assert.equal(classifierDatasetOf('emoji-google'), 'emoji');
  assert.equal(parseClassifierDataset('emoji-twitter'), 'emoji');
  assert.equal(classifierDatasetOf('mnist'), null);
  assert.equal(classifierDatasetOf('folder:/x'), null);
  userError(
    () => parseClassifierDataset('folder:/x', 'FID', '; use --metrics nll'),
    /^FID needs deepgen's evaluation classifier, and there is none for data set "folder:\/x"; classifiers exist for fashion-mnist, shapes, emoji \(also emoji-google, emoji-twitter\); use --metrics nll\.$/,
  );
  userError(() => parseClassifierDataset('mnist'), /^No evaluation classifier for data set "mnist"; classifiers exist/);
});

test("cond-eval's emoji prompt sets: seen names from the train split only, held-out names never in it; captions, base emoji", () => {
  const trainNames = new Set(RECORDS.filter((r) => r.split === 'train').map((r) => r.name));
  for (const spec of ['emoji', 'emoji-google', 'emoji-twitter']) {
    const vendors = emojiVendorsOf(spec);
    const { seen, heldOut } = emojiPromptSets(RECORDS, vendors);
    const mine = RECORDS.filter((r) => vendors.includes(r.vendor) && !r.tone);
    assert.deepEqual(
      seen.map((r) => r.name),
      [...new Set(mine.filter((r) => r.split === 'train').map((r) => r.name))].sort(),
      spec,
    );
    assert.deepEqual(
      heldOut.map((r) => r.name),
      [...new Set(mine.filter((r) => r.split === 'heldout').map((r) => r.name))].sort(),
      spec,
    );
    assert.ok(heldOut.length > 0 && seen.length > heldOut.length);
    for (const r of heldOut) assert.ok(!trainNames.has(r.name), `${r.name} was in training`);
    for (const r of [...seen, ...heldOut]) {
      assert.equal(r.tone, '', 'base emoji only');
      assert.ok(vendors.includes(r.vendor));
      // the prompt is the training caption (the name and the words its short names add), with its category
      assert.ok(r.caption.startsWith(r.name) && r.caption !== r.name, r.caption);
      assert.equal(r.category, RECORDS.find((x) => x.name === r.name)!.category);
    }
  }
  // a run on the first images only: the seen names are those it trained on
  const some = new Set([...trainNames].slice(0, 5));
  const { seen, heldOut } = emojiPromptSets(RECORDS, ['google', 'twitter'], some);
  assert.deepEqual(
    seen.map((r) => r.name),
    [...some].sort(),
  );
  assert.equal(heldOut.length, emojiPromptSets(RECORDS, ['google', 'twitter']).heldOut.length);
});

test('e2e: cond-eval of emoji text and label models: seen and held-out names apart, vendor shares, per category; the leaderboard reads it; FID on its features (~15 s)', async () => {
  const env = { ...process.env, DEEPGEN_CACHE: TMP };
  const cli = (args: string[]) => runCli(args, { cwd: TMP, env });
  // the classifier of the test above (trained again if this test runs alone)
  const clf = await getClassifier('emoji', { ...TINY_CLF, log: () => {} });
  clf.classifier.dispose();
  const common = ['--dataset', 'emoji', '--data-dir', DATA, '--size', '16', '--steps', '2', '--batch-size', '16'];
  const tiny = ['--hidden', '16', '--latent', '2', '--quiet'];
  const text = path.join(TMP, 'text');
  const label = path.join(TMP, 'label');
  const trained = await Promise.all([
    cli([
      'train',
      'vae',
      ...common,
      ...tiny,
      '--set',
      'model.cond.kind=text',
      '--set',
      'model.cond.dim=8',
      '--out',
      text,
    ]),
    cli(['train', 'vae', ...common, ...tiny, '--cond', 'label', '--out', label]),
  ]);
  for (const t of trained) assert.equal(t.code, 0, t.stderr);
  const [te, le, fid] = await Promise.all([
    cli(['cond-eval', text, '--n', '30']),
    cli(['cond-eval', label, '--n', '18']),
    cli(['eval', label, '--metrics', 'fid,pr', '--n', '20', '--json']),
  ]);
  assert.equal(te.code, 0, te.stderr);
  assert.equal(le.code, 0, le.stderr);
  assert.equal(fid.code, 0, fid.stderr);
  // FID on the emoji classifier's features, beside the real floor
  const q = JSON.parse(fid.stdout).sampleQuality;
  assert.equal(q.classifier.dataset, 'emoji');
  assert.ok(Number.isFinite(q.fid) && Number.isFinite(q.reference.fid) && q.recall >= 0, JSON.stringify(q));

  const j = JSON.parse(fs.readFileSync(path.join(text, 'cond-eval.json'), 'utf8'));
  assert.equal(j.kind, 'text');
  assert.equal(j.classifier.dataset, 'emoji');
  const held = emojiPromptSets(RECORDS, ['google', 'twitter']).heldOut.map((r) => r.name);
  for (const set of [j.seen, j.heldOut]) {
    assert.equal(set.n, 30);
    assert.ok(set.overall >= 0 && set.overall <= 1);
    assert.deepEqual(set.classNames, [...EMOJI_CATEGORIES]);
    assert.equal(
      set.counts.reduce((a: number, b: number) => a + b, 0),
      30,
    );
    assert.ok(Math.abs(set.vendors.google + set.vendors.twitter - 1) < 1e-9, JSON.stringify(set.vendors));
  }
  assert.equal(j.seen.names, 30);
  assert.equal(j.heldOut.names, held.length);
  assert.deepEqual(j.heldOut.heldOutNames, held);
  assert.match(
    te.stdout,
    /names seen in training \(30 names\): +category right +\d+\.\d% of 30 samples; vendor drawn: google \d+\.\d%, twitter \d+\.\d%/,
  );
  assert.match(te.stdout, /held-out names \(\d+ names\): +category right/);
  assert.match(te.stdout, /Smileys & Emotion +\d+\.\d% of +\d+ +(\d+\.\d%|n\/a)/);

  const lj = JSON.parse(fs.readFileSync(path.join(label, 'cond-eval.json'), 'utf8'));
  assert.equal(lj.kind, 'label');
  assert.deepEqual(lj.labels.counts, [2, 2, 2, 2, 2, 2, 2, 2, 2]);
  assert.deepEqual(Object.keys(lj.labels.vendors), ['google', 'twitter']);
  assert.match(le.stdout, /recognised as the intended class: +\d+\.\d% of 18; vendor drawn: google/);

  // the leaderboard and zoo cards read seen/heldOut as the category on seen and held-out names
  const row = (await import('../../src/node/leaderboard.ts')).condAccuracyOf(j);
  assert.deepEqual(row, {
    kind: 'text',
    overall: j.seen.overall,
    heldOut: j.heldOut.overall,
    n: 30,
    guidance: null,
    heldOutUnit: 'names',
  });
});

test('e2e: classifier --help lists emoji; show prints the seen/held-out parts; train without the data set is one line', async () => {
  const env = { ...process.env, DEEPGEN_CACHE: TMP };
  const cli = (args: string[]) => runCli(args, { cwd: TMP, env });
  const clf = await getClassifier('emoji', { ...TINY_CLF, log: () => {} });
  clf.classifier.dispose();
  const [help, show, missing] = await Promise.all([
    cli(['classifier', 'train', '--help']),
    cli(['classifier', 'show', '--dataset', 'emoji', '--size', '16']),
    cli(['classifier', 'train', '--dataset', 'emoji', '--data-dir', path.join(TMP, 'nothing-here'), '--quiet']),
  ]);
  assert.match(help.stdout, /--dataset <name> +dataset: fashion-mnist, shapes, emoji/);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /emoji classifier in .*emoji-16x16/);
  assert.match(show.stdout, /test accuracy: category \d+\.\d%, vendor \d+\.\d% on \d+ test images/);
  assert.match(show.stdout, /seen names: category \d+\.\d%, vendor \d+\.\d% on \d+ test images/);
  assert.match(show.stdout, /held-out names: category \d+\.\d%, vendor \d+\.\d% on \d+ test images/);
  assertUserError(missing, /The emoji data set is not installed at .*nothing-here; run `deepgen datasets get emoji`/);
});
