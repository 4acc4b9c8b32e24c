// Tests for the emoji data set: captions and the fixed split, and `getEmoji` + `loadEmoji` end to end on a fixture the
// test builds (a few PNGs and an emoji.json excerpt, packed with npm and served by a local registry: nothing downloads).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { PNG } from 'pngjs';
import {
  EMOJI_CATEGORIES,
  EMOJI_EXAMPLE_PROMPTS,
  emojiCaption,
  emojiRecords,
  emojiSplitOf,
  HELD_OUT_FRACTION,
  planEmojiSplit,
  toneName,
  type EmojiJsonEntry,
} from '../../src/core/data/emoji.ts';
import { UserError } from '../../src/core/errors.ts';
import { loadDataset } from '../../src/node/data/datasets.ts';
import {
  EMOJI_PACKAGES,
  EMOJI_VERSION,
  emojiDir,
  emojiSummary,
  getEmoji,
  hasEmoji,
  loadEmoji,
  readEmojiIndex,
} from '../../src/node/data/emoji.ts';

test('emoji captions: lower-case name, skin tone, short names that add words', () => {
  assert.equal(emojiCaption('red apple', ['apple']), 'red apple');
  assert.equal(emojiCaption('father christmas', ['santa']), 'father christmas, santa');
  assert.equal(
    emojiCaption('thumbs up sign', ['+1', 'thumbsup'], 'medium'),
    'thumbs up sign medium skin tone, thumbsup',
  );
  assert.equal(emojiCaption('tonga flag', ['flag-to']), 'tonga flag');
  assert.equal(
    emojiCaption('grinning face', ['grinning', 'big_grin', 'happy_face', 'more']),
    'grinning face, big grin, happy face',
  );
  assert.equal(toneName('1F3FD'), 'medium');
  assert.equal(toneName('1F3FB-1F3FF'), 'light and dark');
  assert.equal(toneName('1F3FB-1F3FB'), 'light');
  assert.equal(toneName('ABCD'), '');
});

test('emoji split: fixed, at least 5% of names held out, the rest lend one drawing to test', () => {
  const names = Array.from({ length: 1000 }, (_, i) => `emoji number ${i}`);
  const plan = planEmojiSplit(names);
  assert.ok(plan.heldOut.size >= 0.05 * names.length, `${plan.heldOut.size} held out`);
  assert.equal(plan.heldOut.size, Math.ceil(names.length * HELD_OUT_FRACTION));
  // the same names in any order give the same plan
  const again = planEmojiSplit([...names].reverse());
  assert.deepEqual([...again.heldOut].sort(), [...plan.heldOut].sort());
  assert.deepEqual([...again.testDrawing].sort(), [...plan.testDrawing].sort());
  for (const n of plan.testDrawing.keys()) assert.ok(!plan.heldOut.has(n));
  for (const n of names) {
    const splits = (['google', 'twitter'] as const).map((v) => emojiSplitOf(plan, n, v));
    if (plan.heldOut.has(n)) assert.deepEqual(splits, ['heldout', 'heldout']);
    else if (plan.testDrawing.has(n))
      assert.deepEqual([...splits].sort(), ['test', 'train']); // one vendor each side
    else assert.deepEqual(splits, ['train', 'train']);
  }
});

// ---- the fixture: two vendors' packages with an emoji.json excerpt and 64x64 RGBA PNGs --------------------------------

const ENTRIES: EmojiJsonEntry[] = [
  ['RED APPLE', '1f34e.png', ['apple'], 'Food & Drink'],
  ['CAT FACE', '1f431.png', ['cat'], 'Animals & Nature'],
  ['BLUE HEART', '1f499.png', ['blue_heart'], 'Smileys & Emotion'],
  ['GRINNING FACE', '1f600.png', ['grinning'], 'Smileys & Emotion'],
  ['DOG FACE', '1f436.png', ['dog'], 'Animals & Nature'],
  ['PIZZA SLICE', '1f355.png', ['pizza'], 'Food & Drink'],
  ['SOCCER BALL', '26bd.png', ['soccer'], 'Activities'],
  ['ROCKET', '1f680.png', ['rocket'], 'Travel & Places'],
  ['Japan Flag', '1f1ef-1f1f5.png', ['jp', 'flag-jp'], 'Flags'],
  ['HAMMER', '1f528.png', ['hammer'], 'Objects'],
  ['HEAVY PLUS SIGN', '2795.png', ['heavy_plus_sign'], 'Symbols'],
  ['EMOJI MODIFIER FITZPATRICK TYPE-3', '1f3fc.png', ['skin-tone-3'], 'Component'],
].map(([name, image, short_names, category], i) => ({
  name: name as string,
  image: image as string,
  short_names: short_names as string[],
  category: category as string,
  subcategory: 'sub',
  sort_order: i,
  has_img_google: true,
  has_img_twitter: i !== 3, // twitter lacks GRINNING FACE in the fixture
}));
ENTRIES.push({
  name: 'WAVING HAND SIGN',
  image: '1f44b.png',
  short_names: ['wave'],
  category: 'People & Body',
  subcategory: 'hand',
  has_img_google: true,
  has_img_twitter: true,
  skin_variations: {
    '1F3FB': { image: '1f44b-1f3fb.png', has_img_google: true, has_img_twitter: true },
    '1F3FF': { image: '1f44b-1f3ff.png', has_img_google: true, has_img_twitter: false },
  },
});

/** Image k of a vendor: a colour square (colour from k and the vendor) on a transparent background. */
function fixturePng(k: number, vendor: string): Buffer {
  const png = new PNG({ width: 64, height: 64 });
  png.data.fill(0); // fully transparent
  for (let y = 16; y < 48; y++)
    for (let x = 16; x < 48; x++) {
      const o = (y * 64 + x) * 4;
      png.data[o] = (k * 37) % 256;
      png.data[o + 1] = vendor === 'google' ? 40 : 200;
      png.data[o + 2] = 100;
      png.data[o + 3] = x < 32 ? 255 : 128; // right half half-transparent
    }
  return PNG.sync.write(png);
}

let tmp = '';
let server: http.Server;
let registry = '';
let npmCache = '';

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-emoji-'));
  npmCache = path.join(tmp, 'npm-cache');
  const tarballs = new Map<string, Buffer>();
  const packuments = new Map<string, unknown>();
  server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url ?? '');
    const tgz = tarballs.get(url);
    if (tgz) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(tgz);
      return;
    }
    const doc = packuments.get(url.slice(1));
    if (doc) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  for (const vendor of ['google', 'twitter'] as const) {
    const name = EMOJI_PACKAGES[vendor];
    const pkg = path.join(tmp, 'src', vendor);
    const imgDir = path.join(pkg, 'img', vendor, '64');
    fs.mkdirSync(imgDir, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: EMOJI_VERSION, license: 'MIT' }));
    fs.writeFileSync(path.join(pkg, 'emoji.json'), JSON.stringify(ENTRIES));
    fs.writeFileSync(path.join(pkg, 'LICENSE'), 'MIT\n');
    ENTRIES.forEach((e, k) => {
      if (e[`has_img_${vendor}`] !== false) fs.writeFileSync(path.join(imgDir, e.image), fixturePng(k, vendor));
      for (const [t, v] of Object.entries(e.skin_variations ?? {}))
        if (v[`has_img_${vendor}`] !== false)
          fs.writeFileSync(path.join(imgDir, v.image), fixturePng(k + t.length, vendor));
    });
    const out = execFileSync('npm', ['pack', pkg, '--json', '--pack-destination', tmp, '--cache', npmCache], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const info = (JSON.parse(out) as { filename: string; integrity: string }[])[0];
    const tarPath = `/tarballs/${info.filename}`;
    tarballs.set(tarPath, fs.readFileSync(path.join(tmp, info.filename)));
    packuments.set(name, {
      name,
      'dist-tags': { latest: EMOJI_VERSION },
      versions: {
        [EMOJI_VERSION]: {
          name,
          version: EMOJI_VERSION,
          dist: { tarball: `${registry.replace(/\/$/, '')}${tarPath}`, integrity: info.integrity },
        },
      },
    });
  }
});

after(() => {
  server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function install(dir: string) {
  const saved = process.env.npm_config_cache;
  process.env.npm_config_cache = npmCache; // the fixture's packages never enter the user's npm cache
  try {
    return await getEmoji({ dir, registry, log: () => {} });
  } finally {
    if (saved === undefined) delete process.env.npm_config_cache;
    else process.env.npm_config_cache = saved;
  }
}

test('getEmoji: installs through npm from a registry, packs both vendors, keeps no packages', async () => {
  const dir = path.join(tmp, 'data', 'emoji');
  const r = await install(dir);
  assert.equal(r.built, true);
  // 12 base entries with images (Component skipped) x 2 vendors - twitter's missing grin, + 2 + 1 skin-tone images
  assert.equal(r.images, 12 * 2 - 1 + 3);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['images-32.u8', 'images-64.u8', 'index.json']);
  assert.deepEqual(fs.readdirSync(path.dirname(dir)), ['emoji'], 'the temporary install is gone');
  const idx = readEmojiIndex(dir);
  assert.equal(idx.records.length, r.images);
  assert.ok(idx.licences.some((l) => /Apache/.test(l)) && idx.licences.some((l) => /CC-BY-4\.0/.test(l)));
  // a second call finds it and does nothing
  assert.equal((await install(dir)).built, false);

  const train = loadEmoji('emoji', { split: 'train', dir });
  const test_ = loadEmoji('emoji', { split: 'test', dir });
  assert.equal(train.n + test_.n, 12 * 2 - 1, 'base emoji only by default');
  assert.deepEqual([train.height, train.width, train.channels], [32, 32, 3]);
  assert.deepEqual(train.classNames, [...EMOJI_CATEGORIES]);
  // the held-out names never reach the train split, in any vendor or tone
  const heldOut = new Set(test_.records.filter((x) => x.split === 'heldout').map((x) => x.name));
  assert.ok(heldOut.size >= 1);
  const withTones = loadEmoji('emoji', { split: 'train', dir, skinTones: true });
  for (const rec of withTones.records) assert.ok(!heldOut.has(rec.name), `${rec.name} leaked into training`);
  assert.ok(!train.captions.some((c) => [...heldOut].some((h) => c.startsWith(h))));
  // labels are categories, captions lower-case names
  const apple = [...train.records, ...test_.records].filter((x) => x.name === 'red apple');
  assert.equal(apple.length, 2);
  assert.equal(apple[0].category, EMOJI_CATEGORIES.indexOf('Food & Drink'));
  assert.ok(train.captions.every((c) => c === c.toLowerCase()));
  train.labels.forEach((l, i) => assert.equal(l, train.records[i].category));
  assert.equal(withTones.records.filter((x) => x.tone).length + withTones.n - withTones.records.length, 3 - 0);
  assert.ok(withTones.captions.some((c) => c.startsWith('waving hand sign light skin tone')));

  // composited on white: the corner is white; the opaque left half keeps its colour; the right half is blended
  const full = loadEmoji('emoji-google', { split: 'train', dir, size: 64 });
  assert.ok(full.records.every((x) => x.vendor === 'google'));
  const k = ENTRIES.findIndex((e) => emojiRecords([e], 'google', planEmojiSplit([]))[0]?.name === full.records[0].name);
  const px = (x: number, y: number) => Array.from(full.images.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [255, 255, 255]);
  assert.deepEqual(px(20, 20), [(k * 37) % 256, 40, 100]);
  const blend = (v: number) => Math.round(v * (128 / 255) + 255 * (127 / 255));
  assert.deepEqual(px(40, 20), [blend((k * 37) % 256), blend(40), blend(100)]);
  // 32 px is the 2x2 box average of 64 px; other sizes resize from 64
  const small = loadEmoji('emoji-google', { split: 'train', dir, size: 32 });
  const at64 = (x: number, y: number, c: number) => full.images[(y * 64 + x) * 3 + c];
  for (const [x, y] of [
    [8, 8],
    [15, 10],
    [7, 12],
  ])
    for (let c = 0; c < 3; c++) {
      const avg =
        (at64(2 * x, 2 * y, c) +
          at64(2 * x + 1, 2 * y, c) +
          at64(2 * x, 2 * y + 1, c) +
          at64(2 * x + 1, 2 * y + 1, c)) /
        4;
      assert.equal(small.images.slice(0, 32 * 32 * 3)[(y * 32 + x) * 3 + c], Math.round(avg));
    }
  assert.equal(loadDataset('emoji-twitter', { split: 'train', dataDir: dir, size: 16, n: 3 }).height, 16);
  assert.equal(loadDataset('emoji', { split: 'train', dataDir: dir, n: 4 }).n, 4);
});

test('emoji: clear errors when it is not installed or the download fails', async () => {
  const missing = path.join(tmp, 'nothing', 'emoji');
  assert.throws(
    () => loadDataset('emoji', { split: 'train', dataDir: missing }),
    (e: unknown) => e instanceof UserError && /deepgen datasets get emoji/.test(e.message),
  );
  assert.throws(
    () => loadDataset('shapes', { split: 'train', skinTones: true, n: 2 }),
    (e: unknown) => e instanceof UserError && /only apply to the emoji/.test(e.message),
  );
  const saved = process.env.npm_config_cache;
  process.env.npm_config_cache = npmCache;
  try {
    await assert.rejects(
      getEmoji({ dir: path.join(tmp, 'bad', 'emoji'), registry: `${registry}nope/`, log: () => {} }),
      (e: unknown) => e instanceof UserError && /npm could not install .*--registry/.test(e.message),
    );
  } finally {
    if (saved === undefined) delete process.env.npm_config_cache;
    else process.env.npm_config_cache = saved;
  }
  assert.ok(!fs.existsSync(path.join(tmp, 'bad', 'emoji')), 'a failed download leaves no folder behind');
  assert.deepEqual(fs.readdirSync(path.join(tmp, 'bad')), [], 'nor its temporary install');
});

test('emoji: the installed data set (CI runs `deepgen datasets get emoji`)', (t) => {
  if (!hasEmoji()) {
    if (process.env.DEEPGEN_REQUIRE_EMOJI)
      assert.fail(`DEEPGEN_REQUIRE_EMOJI is set but no emoji data set is at ${emojiDir()}`);
    t.skip('not installed here: run `deepgen datasets get emoji`');
    return;
  }
  const s = emojiSummary();
  assert.equal(s.names, 1905);
  assert.equal(s.base, 3812);
  assert.ok(s.heldOutNames / s.names >= 0.05, `${s.heldOutNames} of ${s.names} names held out`);
  const train = loadEmoji('emoji', { split: 'train' });
  const test_ = loadEmoji('emoji', { split: 'test' });
  assert.equal(train.n + test_.n, s.base);
  const held = new Set(test_.records.filter((r) => r.split === 'heldout').map((r) => r.name));
  assert.equal(held.size, s.heldOutNames);
  assert.ok(
    train.records.every((r) => !held.has(r.name)),
    'a held-out name is in the train split',
  );
  assert.deepEqual([...new Set(train.labels)].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  // the example prompts (README, demo, compare) are seen names, and held-out ones
  for (const name of EMOJI_EXAMPLE_PROMPTS.seen)
    assert.ok(
      train.records.some((r) => r.name === name),
      name,
    );
  for (const name of EMOJI_EXAMPLE_PROMPTS.heldOut) assert.ok(held.has(name), `${name} is held out`);
});
