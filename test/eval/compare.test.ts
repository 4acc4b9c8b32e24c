// `deepgen compare` (issue 10): a tiny one-shot model and a tiny diffusion model, text-conditional on 16x16 shapes,
// compared on two prompts with a tiny classifier in a temporary cache: the one-shot samples have zero variance across
// seeds, the diffusion samples do not; the figures, the picture's layout and the markdown; and the CLI's one-line
// errors for runs that cannot be compared.
import '../helpers/backend.ts';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compareMarkdown, compareRuns, promptPlacement, realIndices } from '../../src/node/compare.ts';
import { generateShapes } from '../../src/core/data/shapes.ts';
import { loadRun, loadSplit, type LoadedRun } from '../../src/node/run.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';
import { runCli } from '../helpers/cli.ts';
import { writeEmojiFixture } from '../helpers/emoji-fixture.ts';
import { loadEmoji } from '../../src/node/data/emoji.ts';
import { UserError } from '../../src/core/errors.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-compare-'));
const runs: LoadedRun[] = [];

const tiny = (id: string, family: 'oneshot' | 'diffusion' | 'vae', cond: 'text' | 'label') =>
  trainTinyRun(family, path.join(TMP, id), { model: { cond: { kind: cond } }, trainN: 200, testN: 400, steps: 6 });

before(async () => {
  for (const [id, fam] of [
    ['oneshot', 'oneshot'],
    ['diffusion', 'diffusion'],
  ] as const)
    runs.push(await loadRun(await tiny(id, fam, 'text')));
});
after(() => {
  for (const r of runs) r.model.dispose();
  fs.rmSync(TMP, { recursive: true, force: true });
});

test('compare: one-shot samples do not vary, generative ones do; figures, picture and tables per prompt', async () => {
  const test_ = loadSplit(runs[0].cfg, 'test');
  const conditions = [
    { name: '"green circle"', prompt: 'green circle' },
    { name: '"red square"', prompt: 'red square' },
  ];
  for (const c of conditions) {
    const idx = realIndices(test_, c);
    assert.ok(idx.length >= 4, `${c.name}: ${idx.length} real images`);
  }
  const res = await compareRuns(runs, conditions, test_, {
    n: 8,
    seed: 1,
    show: 3,
    sampling: { steps: 2 },
    classifier: {
      cacheRoot: path.join(TMP, 'cache'),
      trainN: 300,
      testN: 50,
      epochs: 1,
      net: { widths: [4, 8, 8], features: 16 },
      log: () => {},
    },
  });
  assert.equal(res.conditions.length, 2);
  for (const c of res.conditions) {
    const [one, gen] = c.runs;
    assert.equal(one.family, 'oneshot');
    assert.equal(one.deterministic, true);
    assert.equal(one.pixelVariance, 0, 'the one-shot model draws one image for every seed');
    assert.ok(gen.pixelVariance > 1e-4, `diffusion samples vary: ${gen.pixelVariance}`);
    assert.ok(c.real.pixelVariance > 1e-3, 'real images of a prompt vary (position, size)');
    for (const x of [one, gen]) {
      for (const v of [x.sharpness, x.distanceToClassMean, x.fid, x.accuracy])
        assert.ok(Number.isFinite(v) && v >= 0, `${x.family}: ${JSON.stringify(x)}`);
      assert.ok(x.accuracy <= 1);
    }
    assert.ok(c.nReal >= 4 && c.nReal <= 8);
  }
  // per condition: a row of real images, then one row per run; `show` images and the mean image per row
  assert.equal(res.picture.width, 4 * 16 + 5 * 2);
  assert.equal(res.picture.height, 2 * 3 * 16 + 7 * 2);
  const md = compareMarkdown(res);
  assert.match(md, /\*\*"green circle"\*\* \(8 samples per run; \d+ real test images\)/);
  assert.match(md, /\| real test images \| [\d.]+ \| [\d.]+ \| [\d.]+ \| - \| - \| \d+% \|/);
  assert.match(md, /oneshot, one-shot\) \| 0\.0000 \|/);
});

test('compare CLI: one-line errors for unconditional or mixed runs and for prompts it cannot judge', async () => {
  const uncond = await trainTinyRun('vae', path.join(TMP, 'uncond'), { steps: 1 });
  const label = await tiny('label', 'vae', 'label');
  const cases: [string[], RegExp][] = [
    [[uncond], /is not conditional \(model\.cond\.kind is none\); compare needs label- or text-conditional runs/],
    [[runs[0].dir, label], /mix label- and text-conditional models/],
    [[runs[0].dir, '--prompt', 'a thing'], /the prompt "a thing" must name a colour .* and a shape/],
    [[runs[0].dir, '--label', '1'], /text-conditional: use --prompt, not --label/],
    [[runs[0].dir, '--out', 'x.jpg'], /--out x\.jpg must end in \.png/],
  ];
  for (const [args, msg] of cases) {
    const r = await runCli(['compare', ...args], { cwd: TMP });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.includes('--help')).length,
      1,
      r.stderr,
    );
  }
});

test('compare: the real images of a prompt match every attribute it names (colour, shape, and size and position if named)', () => {
  assert.deepEqual(promptPlacement('a large green circle at the top left'), { size: 'large', position: 'top left' });
  assert.deepEqual(promptPlacement('a blue square at the top'), { size: null, position: 'top' });
  assert.deepEqual(promptPlacement('green circle'), { size: null, position: null });
  const ds = generateShapes({ n: 3000, seed: 5, size: 16 });
  const loose = realIndices(ds, { name: 'g', prompt: 'green circle' });
  const tight = realIndices(ds, { name: 'g', prompt: 'a large green circle at the top left' });
  assert.ok(loose.length > tight.length && tight.length > 0, `${loose.length} vs ${tight.length}`);
  for (const i of loose) assert.deepEqual([ds.fields[i].color, ds.fields[i].shape], ['green', 'circle']);
  for (const i of tight) assert.deepEqual([ds.fields[i].size, ds.fields[i].position], ['large', 'top left']);
  const labelled = { ...ds, labels: Int32Array.from({ length: ds.n }, (_, i) => i % 3) };
  assert.deepEqual(realIndices(labelled, { name: 'c1', label: 1 }).slice(0, 3), [1, 4, 7]);
});

test('compare on emoji: the real images of a prompt are its name drawn by each vendor, the vendor head judges style', async () => {
  const data = path.join(TMP, 'emoji');
  const records = writeEmojiFixture(data, { perCategory: 6 });
  const emojiRuns: LoadedRun[] = [];
  try {
    for (const fam of ['oneshot', 'diffusion'] as const)
      emojiRuns.push(
        await loadRun(
          await trainTinyRun(fam, path.join(TMP, `emoji-${fam}`), {
            model: { cond: { kind: 'text', tokenizer: 'bpe', merges: 50 } },
            data: { dataset: 'emoji', dataDir: data, size: 16 },
            trainN: 0,
            testN: 0,
            steps: 4,
          }),
        ),
      );
    const all = loadEmoji('emoji', { split: 'all', dir: data, size: 16 });
    const held = records.find((r) => r.split === 'heldout')!;
    const seen = records.find((r) => r.split === 'train')!;
    const conditions = [seen, held].map((r) => ({ name: `"${r.name}"`, prompt: r.name }));
    for (const c of conditions) assert.equal(realIndices(all, c).length, 2, `${c.name}: one drawing per vendor`);
    // the caption (name + short names) finds the same drawings as the name
    assert.deepEqual(realIndices(all, { name: 'caption', prompt: seen.caption }), realIndices(all, conditions[0]));
    const res = await compareRuns(emojiRuns, conditions, all, {
      n: 6,
      seed: 1,
      show: 3,
      sampling: { steps: 2 },
      classifier: {
        cacheRoot: path.join(TMP, 'cache'),
        epochs: 1,
        net: { widths: [4, 8, 8], features: 16 },
        log: () => {},
      },
    });
    for (const c of res.conditions) {
      assert.equal(c.nReal, 2);
      for (const share of [c.real.vendorShare!, ...c.runs.map((x) => x.vendorShare!)]) {
        assert.deepEqual(Object.keys(share), ['google', 'twitter']);
        assert.ok(Math.abs(share.google + share.twitter - 1) < 1e-9);
      }
      const [one, gen] = c.runs;
      assert.equal(one.pixelVariance, 0);
      assert.ok(gen.pixelVariance > 0);
      assert.ok(Number.isNaN(one.fid), 'two real drawings are too few for a per-prompt FID');
    }
    const md = compareMarkdown(res);
    assert.match(md, /\| real drawings \(each vendor\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| - \| - \| \d+% \| \d+% \|/);
    assert.match(md, /oneshot, one-shot\) \| 0\.0000 \| [\d.]+ \| [\d.]+ \| n\/a \| n\/a \| \d+% \| \d+% \|/);
    await assert.rejects(
      compareRuns(emojiRuns, [{ name: '"no such emoji"', prompt: 'no such emoji' }], all, { n: 4, seed: 0 }),
      (e: unknown) => e instanceof UserError && /no emoji is named "no such emoji"/.test(e.message),
    );
  } finally {
    for (const r of emojiRuns) r.model.dispose();
  }
});
