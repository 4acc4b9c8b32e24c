// A synthetic emoji folder for tests (index.json + images-64.u8 + images-32.u8, the format `deepgen datasets get emoji`
// writes): the category is the colour of a central square, the vendor a dark frame (google) or none (twitter).
import fs from 'node:fs';
import path from 'node:path';
import {
  EMOJI_CATEGORIES,
  EMOJI_VENDORS,
  emojiCaption,
  emojiSplitOf,
  planEmojiSplit,
  type EmojiRecord,
} from '../../src/core/data/emoji.ts';
import { Rng } from '../../src/core/tensor/rng.ts';
import { halve, type EmojiIndex } from '../../src/node/data/emoji.ts';

/** One colour per category (EMOJI_CATEGORIES order), far apart in RGB. */
const PALETTE: [number, number, number][] = [
  [230, 30, 30],
  [30, 160, 30],
  [30, 60, 230],
  [240, 200, 20],
  [200, 30, 200],
  [20, 200, 210],
  [120, 60, 10],
  [250, 130, 20],
  [110, 110, 110],
];

/** A 64x64 RGB image: white, a square of the category's colour at a jittered place, a frame for google. */
function drawEmoji(category: number, vendor: string, rng: Rng): Uint8Array {
  const S = 64;
  const img = new Uint8Array(S * S * 3).fill(255);
  const half = 12 + rng.int(8);
  const cy = 32 + rng.int(9) - 4;
  const cx = 32 + rng.int(9) - 4;
  const [r, g, b] = PALETTE[category].map((v) => Math.max(0, Math.min(255, v + rng.int(41) - 20)));
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const frame = vendor === 'google' && (y < 6 || y >= S - 6 || x < 6 || x >= S - 6);
      const inside = Math.abs(y - cy) < half && Math.abs(x - cx) < half;
      const px = frame ? [20, 20, 20] : inside ? [r, g, b] : null;
      if (px) img.set(px, (y * S + x) * 3);
    }
  return img;
}

/**
 * Writes the folder: `perCategory` names per category ("<category word> thing <j>"), each drawn by both vendors, split
 * as the real data set is (planEmojiSplit); `tones` adds a "medium" skin-tone variant of every People & Body name.
 * Returns the records in file order.
 */
export function writeEmojiFixture(dir: string, o: { perCategory?: number; tones?: boolean } = {}): EmojiRecord[] {
  const perCategory = o.perCategory ?? 20;
  const names: { name: string; category: number }[] = [];
  EMOJI_CATEGORIES.forEach((c, category) => {
    const word = c.split(' ')[0].toLowerCase();
    for (let j = 0; j < perCategory; j++) names.push({ name: `${word} thing ${j}`, category });
  });
  const plan = planEmojiSplit(names.map((n) => n.name));
  const records: EmojiRecord[] = [];
  for (const { name, category } of names)
    for (const vendor of EMOJI_VENDORS) {
      const common = { name, category, subcategory: '', vendor, split: emojiSplitOf(plan, name, vendor) };
      const short = [`${name.split(' ')[0]}ish`]; // a short name that adds a word: the caption is more than the name
      records.push({ ...common, caption: emojiCaption(name, short), tone: '' });
      if (o.tones && category === 1)
        records.push({ ...common, caption: emojiCaption(name, short, 'medium'), tone: 'medium' });
    }
  const rng = new Rng(7);
  new Rng(8).shuffle(records); // the packed order is a fixed shuffle, as in the real folder
  const big = records.map((r) => drawEmoji(r.category, r.vendor, rng));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'images-64.u8'), Buffer.concat(big));
  fs.writeFileSync(path.join(dir, 'images-32.u8'), Buffer.concat(big.map((b) => halve(b, 64))));
  const index: EmojiIndex = {
    format: 1,
    packages: {},
    licences: [],
    createdAt: '2026-01-01T00:00:00.000Z',
    records,
  };
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  return records;
}
