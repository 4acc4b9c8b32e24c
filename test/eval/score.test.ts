// `deepgen score`: grids cut back into the folder's tiles (padding 0, 2 with and without a border, uneven last row),
// real images near the real floor and noisy ones far from it, labels and prompts accuracy, one-line errors, the JSON
// file, and the external row it gives in `deepgen leaderboard`. A tiny 8x8 shapes classifier in a temporary cache.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '../helpers/backend.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';
import { imagesToTensor, type Images } from '../../src/core/api/images.ts';
import { COLORS, generateShapes, SHAPE_KINDS } from '../../src/core/data/shapes.ts';
import { UserError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/tensor/rng.ts';
import { findGridLayouts, splitGrid } from '../../src/core/viz/grid-split.ts';
import { makeGrid, type ImageU8 } from '../../src/core/viz/grid.ts';
import { trainAndSaveClassifier } from '../../src/node/classifier-store.ts';
import { leaderboardJson, leaderboardMarkdown, leaderboardOf, type Leaderboard } from '../../src/node/leaderboard.ts';
import { writePng } from '../../src/node/png.ts';
import { scoreImages } from '../../src/node/score.ts';
import { parseTile, readScoreImages } from '../../src/node/score-input.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-score-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const CACHE = path.join(TMP, 'cache');
const cli = (args: string[]) => runCli(args, { cwd: TMP, env: { ...process.env, DEEPGEN_CACHE: CACHE } });

const S = 8; // shapes at 8x8: small enough for a classifier trained in seconds
const SHAPE = { height: S, width: S, channels: 3 };
const N = 200;
/** Real images that are neither the test images nor the training images of the floor (another seed). */
const REAL = generateShapes({ n: N, seed: 77, size: S });
const realImages: Images = { n: N, ...SHAPE, data: REAL.images };

/** The classifier's own kind and colour for each image: classes known for sure, whatever its accuracy. */
let predicted: { kind: Int32Array; color: Int32Array };

before(async () => {
  const c = await trainAndSaveClassifier('shapes', {
    size: S,
    trainN: 1000,
    testN: 100,
    epochs: 1,
    batchSize: 32,
    net: { widths: [8, 16, 16], features: 32 },
    cacheRoot: CACHE,
    log: () => {},
  });
  const x = imagesToTensor(realImages);
  predicted = c.classifier.predict(x) as typeof predicted;
  x.dispose();
  c.classifier.dispose();
});

/** n tiles of h x w x c with distinct, non-uniform content. */
function tiles(n: number, h: number, w: number, c: number): Uint8Array {
  const rng = new Rng(5);
  return Uint8Array.from({ length: n * h * w * c }, () => 1 + rng.int(250));
}

/** A makeGrid picture without its outer border (padding between tiles only). */
function cropBorder(img: ImageU8, pad: number): ImageU8 {
  const width = img.width - 2 * pad,
    height = img.height - 2 * pad,
    c = img.channels;
  const data = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++)
    data.set(
      img.data.subarray(((y + pad) * img.width + pad) * c, ((y + pad) * img.width + pad + width) * c),
      y * width * c,
    );
  return { data, height, width, channels: c };
}

test('grids with padding 0, 2 with a border and 2 without, and an uneven last row, cut back into the same tiles', () => {
  for (const [n, cols] of [
    [12, 4],
    [10, 4],
    [7, 3],
    [1, 1],
  ]) {
    const data = tiles(n, 6, 5, 3);
    for (const pad of [0, 1, 2, 3]) {
      for (const border of pad ? [true, false] : [true]) {
        for (const padValue of [255, 0, 17]) {
          const full = makeGrid(data, n, 6, 5, 3, { cols, pad, padValue });
          const grid = border ? full : cropBorder(full, pad);
          const { fits } = findGridLayouts(grid, 6, 5);
          const what = `n ${n}, cols ${cols}, pad ${pad}, border ${border}, fill ${padValue}`;
          assert.equal(fits.length, 1, `${what}: ${JSON.stringify(fits)}`);
          // one tile without a border has no separator: its padding is 0
          const lines = border || n > 1;
          assert.deepEqual(
            [fits[0].cols, fits[0].pad, fits[0].border],
            [cols, lines ? pad : 0, border ? pad : 0],
            what,
          );
          const cut = splitGrid(grid, fits[0]);
          // without padding, only the fills of deepgen's and torchvision's grids (white, black) mark empty cells
          const emptyKnown = pad > 0 || padValue !== 17;
          assert.equal(cut.n, emptyKnown ? n : Math.ceil(n / cols) * cols, what);
          assert.deepEqual(cut.data.subarray(0, data.length), data, what);
        }
      }
    }
  }
  assert.deepEqual(parseTile('28'), { height: 28, width: 28 });
  assert.deepEqual(parseTile('6x5'), { height: 6, width: 5 });
  assert.throws(() => parseTile('28x'), /--tile must be HxW/);
});

test('a grid PNG and a folder of the same images read the same; colour made grey for a grey dataset, with a note', () => {
  const n = 10;
  const data = REAL.images.subarray(0, n * S * S * 3);
  const dir = path.join(TMP, 'folder');
  fs.mkdirSync(dir);
  // natural order: 2.png before 10.png
  for (let i = 0; i < n; i++)
    writePng(path.join(dir, `${i + 1}.png`), {
      data: data.subarray(i * S * S * 3, (i + 1) * S * S * 3),
      height: S,
      width: S,
      channels: 3,
    });
  const folder = readScoreImages(dir, { shape: SHAPE, dataset: 'shapes' });
  assert.deepEqual(folder.images, { n, ...SHAPE, data });
  assert.equal(folder.source.kind, 'folder');
  assert.match(folder.source.sha256, /^[0-9a-f]{64}$/);
  for (const pad of [0, 2]) {
    const file = path.join(TMP, `grid-${pad}.png`);
    writePng(file, makeGrid(data, n, S, S, 3, { cols: 4, pad }));
    const grid = readScoreImages(file, { shape: SHAPE, dataset: 'shapes', tile: { height: S, width: S } });
    assert.deepEqual(grid.images, folder.images, `pad ${pad}`);
    assert.deepEqual([grid.source.grid!.cols, grid.source.grid!.rows, grid.source.grid!.dropped], [4, 3, 2]);
    assert.match(grid.notes[0], /4 columns x 3 rows of 8x8 tiles.*10 images \(2 empty cells at the end dropped\)/);
  }
  const grey = readScoreImages(dir, { shape: { ...SHAPE, channels: 1 }, dataset: 'grey-data' });
  assert.equal(grey.images.channels, 1);
  const [r, g, b] = data.subarray(0, 3);
  assert.equal(grey.images.data[0], Math.round(0.299 * r + 0.587 * g + 0.114 * b));
  assert.match(grey.notes.join('\n'), /10 RGB picture\(s\) made grey for grey-data .*held colour/);
  assert.throws(
    () => readScoreImages(dir, { shape: { ...SHAPE, height: 9, width: 9 }, dataset: 'shapes' }),
    (e: unknown) => e instanceof UserError && /1\.png is 8x8x3, but shapes images are 9x9x3/.test(e.message),
  );
  assert.throws(
    () =>
      readScoreImages(path.join(TMP, 'grid-2.png'), {
        shape: SHAPE,
        dataset: 'shapes',
        tile: { height: 8, width: 8 },
        cols: 5,
      }),
    /Cannot find the grid layout of .*grid-2\.png \(42x32 pixels\): tried 8x8 tiles with paddings 0 to 16 px .* in 5 columns.*pass --cols N and --pad P/,
  );
});

test('real images score near the real floor, noisy ones far from it; labels accuracy is right and drops when shuffled; no tensor leak (slow: ~10 s)', async () => {
  const rng = new Rng(3);
  const noisy = Uint8Array.from(REAL.images, (v) => Math.max(0, Math.min(255, Math.round(v + 60 * rng.normal()))));
  const kindNames = Array.from(predicted.kind, (k) => SHAPE_KINDS[k]);
  const before = tf.memory().numTensors;
  const real = await scoreImages(realImages, {
    dataset: 'shapes',
    size: S,
    labels: { lines: kindNames, source: 'kinds.txt' },
    classifier: { cacheRoot: CACHE },
  });
  assert.equal(tf.memory().numTensors, before, 'no tensor leak');
  const q = real.sampleQuality!;
  assert.equal(q.n, N);
  assert.ok(q.fid! < 2 * q.reference.fid!, `real FID ${q.fid} vs floor ${q.reference.fid}`);
  const bad = await scoreImages(
    { ...realImages, data: noisy },
    { dataset: 'shapes', size: S, classifier: { cacheRoot: CACHE } },
  );
  const qb = bad.sampleQuality!;
  assert.equal(qb.reference.fid, q.reference.fid, 'the same floor');
  assert.ok(qb.fid! > 4 * qb.reference.fid!, `noisy FID ${qb.fid} vs floor ${qb.reference.fid}`);
  assert.ok(qb.kid! > q.kid! + 3 * qb.kidStd!, `noisy KID ${qb.kid} +- ${qb.kidStd} vs real ${q.kid}`);
  assert.ok(qb.precision! < q.precision!);
  assert.equal(bad.labels, undefined, 'no labels, no accuracy');
  // the classifier's own kinds: all right; indices and names alike
  assert.equal(real.kind, 'label');
  assert.equal(real.labels!.overall, 1);
  assert.equal(real.labels!.n, N);
  assert.deepEqual(real.labels!.classNames, [...SHAPE_KINDS]);
  // the true kinds: the share the classifier agrees with, computed here
  const truth = await scoreImages(realImages, {
    dataset: 'shapes',
    size: S,
    metrics: ['acc'],
    labels: { lines: Array.from(REAL.labels!, String), source: 'truth.txt' },
    classifier: { cacheRoot: CACHE },
  });
  assert.equal(truth.sampleQuality, undefined, '--metrics acc alone computes no FID');
  const agree = REAL.labels!.filter((y, i) => y === predicted.kind[i]).length / N;
  assert.equal(truth.labels!.overall, agree);
  const shuffled = [...kindNames.slice(1), kindNames[0]]; // each image gets the next one's class
  const s = await scoreImages(realImages, {
    dataset: 'shapes',
    size: S,
    metrics: ['acc'],
    labels: { lines: shuffled, source: 'shuffled.txt' },
    classifier: { cacheRoot: CACHE },
  });
  assert.ok(s.labels!.overall < 0.6, `shuffled labels: ${s.labels!.overall}`);
  // prompts on shapes: colour and shape both right, a held-out pair apart
  const prompts = Array.from(
    predicted.kind,
    (k, i) => `a small ${COLORS[predicted.color[i]]} ${SHAPE_KINDS[k]} in the center`,
  );
  const heldPair = `${COLORS[predicted.color[0]]} ${SHAPE_KINDS[predicted.kind[0]]}`;
  const p = await scoreImages(realImages, {
    dataset: 'shapes',
    size: S,
    metrics: ['acc'],
    prompts: { lines: prompts, source: 'prompts.txt' },
    holdOut: [heldPair],
    classifier: { cacheRoot: CACHE },
  });
  assert.equal(p.kind, 'text');
  assert.equal(p.seen!.both, 1);
  assert.equal(p.heldOut!.both, 1);
  assert.deepEqual(p.heldOut!.pairs, [heldPair]);
  assert.equal(p.seen!.n + p.heldOut!.n, N);
  assert.ok(p.heldOut!.n >= 1);
  assert.equal(tf.memory().numTensors, before, 'no tensor leak');
});

/** Writes the real images as numbered PNGs in `dir` and their classifier kinds (one a line) in `labels`. */
function writeFolder(dir: string, labels: string, n = N): void {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++)
    writePng(path.join(dir, `img${i}.png`), {
      data: REAL.images.subarray(i * S * S * 3, (i + 1) * S * S * 3),
      ...SHAPE,
    });
  fs.writeFileSync(labels, Array.from(predicted.kind.subarray(0, n), (k) => SHAPE_KINDS[k]).join('\n') + '\n');
}

test('e2e: score a folder --json --out (valid JSON, written atomically), then the leaderboard shows it as an external row (slow: ~15 s)', async () => {
  const dir = path.join(TMP, 'samples');
  const labels = path.join(TMP, 'labels.txt');
  writeFolder(dir, labels);
  const outDir = path.join(TMP, 'scores');
  fs.mkdirSync(outDir);
  const out = path.join(outDir, 'other-tool.json');
  fs.writeFileSync(out, 'an older file');
  const args = ['score', dir, '--dataset', 'shapes', '--size', String(S), '--labels', labels];
  const meta = ['--name', 'other-tool', '--notes', 'made elsewhere, 5 min', '--family', 'diffusion'];
  const [r, text] = await Promise.all([cli([...args, ...meta, '--json', '--out', out]), cli(args)]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(fs.readFileSync(out, 'utf8'), r.stdout, '--out holds what --json printed');
  assert.deepEqual(fs.readdirSync(outDir), ['other-tool.json'], 'no temporary file left beside it');
  assert.equal(j.format, 'deepgen-score');
  assert.deepEqual(
    [j.name, j.notes, j.family, j.dataset, j.size, j.n],
    ['other-tool', 'made elsewhere, 5 min', 'diffusion', 'shapes', '8x8x3', N],
  );
  assert.equal(j.images.kind, 'folder');
  assert.equal(j.images.files, N);
  assert.match(j.labelsFile.sha256, /^[0-9a-f]{64}$/);
  assert.equal(j.labels.overall, 1);
  for (const k of ['fid', 'kid', 'kidStd', 'precision', 'recall']) {
    assert.ok(Number.isFinite(j.sampleQuality[k]), k);
    assert.ok(Number.isFinite(j.sampleQuality.reference[k]), `reference ${k}`);
  }
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /200 images from .*samples scored against the first 200 shapes test images \(seed 0\) \(8x8x3\)/,
  );
  assert.match(text.stdout, /metric\s+images\s+real train images/);
  assert.match(text.stdout, /FID\s+\d+\.\d{3}\s+\d+\.\d{3}/);
  assert.match(text.stdout, /recognised as the intended class: 100\.0% of 200/);

  // the leaderboard: a fake run and the score file, one row each; the score file's row marked external
  const run = path.join(TMP, 'runs', 'vae-a');
  fs.mkdirSync(run, { recursive: true });
  fs.writeFileSync(
    path.join(run, 'config.json'),
    JSON.stringify({
      family: 'vae',
      formatVersion: 1,
      createdBy: 'deepgen',
      config: { family: 'vae', model: {}, data: { dataset: 'shapes' }, train: { batchSize: 8 } },
      dataInfo: { height: S, width: S, channels: 3 },
    }),
  );
  const board = leaderboardOf([run, out], () => {});
  assert.equal(board.rows.length, 2);
  const ext = board.rows.find((row) => row.run === out)!;
  assert.equal(ext.family, 'diffusion');
  assert.equal(ext.dataset, 'shapes');
  assert.equal(ext.sampleQuality!.fid, j.sampleQuality.fid);
  assert.deepEqual(ext.condAccuracy, { kind: 'label', overall: 1, heldOut: null, n: N, guidance: null });
  assert.equal(ext.source!.kind, 'external');
  assert.equal(ext.source!.sha256, j.images.sha256);
  assert.equal(board.rows.find((row) => row.run === run)!.source, undefined, 'run rows keep their shape');
  assert.deepEqual(JSON.parse(leaderboardJson(board)) as Leaderboard, board);
  const md = leaderboardMarkdown(board);
  const line = md.split('\n').find((l) => l.startsWith(`| ${out} |`))!;
  assert.match(line, /\| diffusion \| shapes \| label \| n\/a \|/);
  assert.match(
    line,
    /\| 100\.0% \| external: other-tool \(made elsewhere, 5 min\); images .*samples sha256 [0-9a-f]{12} \|$/,
  );
  assert.match(md, /Floor for shapes 8x8x3 \(n = 200 real training images/);
  assert.match(md, /^- external: images from outside deepgen/m);
  const lb = await cli(['leaderboard', path.join(outDir, '*.json')]);
  assert.equal(lb.code, 0, lb.stderr);
  assert.match(lb.stdout, /external: other-tool/);
  const notScore = path.join(TMP, 'other.json');
  fs.writeFileSync(notScore, '{"a": 1}');
  assertUserError(
    await cli(['leaderboard', notScore]),
    /other\.json is a file, not a run folder or a score file of deepgen score --out/,
  );
});

test('e2e: bad input is one line and exit 2: missing folder, wrong tile size, label count, unknown class, no layout', async () => {
  const dir = path.join(TMP, 'few');
  const labels = path.join(TMP, 'few-labels.txt');
  writeFolder(dir, labels, 12);
  const short = path.join(TMP, 'short.txt');
  fs.writeFileSync(short, 'circle\nsquare\n');
  const unknown = path.join(TMP, 'unknown.txt');
  fs.writeFileSync(unknown, [...Array(11).fill('circle'), 'hexagon'].join('\n'));
  const grid = path.join(TMP, 'few-grid.png');
  writePng(grid, makeGrid(REAL.images.subarray(0, 12 * S * S * 3), 12, S, S, 3, { cols: 4, pad: 2 }));
  const base = ['--dataset', 'shapes', '--size', String(S)];
  const [missing, tile, count, cls, layout, noData, metrics] = await Promise.all([
    cli(['score', path.join(TMP, 'nope'), ...base]),
    cli(['score', grid, ...base, '--tile', '28']),
    cli(['score', dir, ...base, '--labels', short]),
    cli(['score', dir, ...base, '--labels', unknown]),
    cli(['score', grid, ...base, '--tile', '8', '--pad', '3']),
    cli(['score', dir]),
    cli(['score', dir, ...base, '--metrics', 'fid,is']),
  ]);
  assertUserError(
    missing,
    /Cannot find .*nope: no such file or folder; pass a folder of PNG images or a grid PNG with --tile/,
  );
  assertUserError(tile, /--tile 28x28 does not match shapes's 8x8 images; use --tile 8/);
  assertUserError(count, /short\.txt has 2 labels for 12 images; give one label per image/);
  assertUserError(cls, /unknown\.txt line 12: label "hexagon" is not a class; use 0\.\.4 or one of: circle, square/);
  assertUserError(layout, /Cannot find the grid layout .*tried 8x8 tiles with padding 3.*pass --cols N and --pad P/);
  assertUserError(noData, /score needs --dataset/);
  assertUserError(metrics, /metrics must be a comma-separated list of fid, kid, pr, acc, got "fid,is"/);
  await assert.rejects(
    scoreImages(realImages, { dataset: 'shapes', size: S, metrics: ['acc'], classifier: { cacheRoot: CACHE } }),
    /acc \(classifier accuracy\) needs the class or prompt of each image/,
  );
});
