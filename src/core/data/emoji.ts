// The emoji data set's pure parts: captions from emoji-datasource's names, the nine categories as labels, and the fixed
// split (6% of names held out of training entirely; a tenth of the other names lend one vendor's drawing to the test split).
import { words } from '../conditioning/tokenizer.ts';
import type { ImageDataset } from './types.ts';

/** The vendors whose images are openly licensed (Apple's and Facebook's are not, so deepgen never reads them). */
export const EMOJI_VENDORS = ['google', 'twitter'] as const;
export type EmojiVendor = (typeof EMOJI_VENDORS)[number];

/** emoji-datasource's categories in its own order, without 'Component' (five skin-tone swatches). The label is the index. */
export const EMOJI_CATEGORIES = [
  'Smileys & Emotion',
  'People & Body',
  'Animals & Nature',
  'Food & Drink',
  'Travel & Places',
  'Activities',
  'Objects',
  'Symbols',
  'Flags',
] as const;

/** Fraction of the emoji names held out of training (both vendors, every skin tone): at least 5%, as documented. */
export const HELD_OUT_FRACTION = 0.06;
/** Fraction of the other names whose drawing by one vendor goes to the test split (the other vendor's stays in training). */
export const TEST_DRAWING_FRACTION = 0.1;

/** Example prompts for demos, docs and `deepgen compare`: names seen in training, and names held out of it (the test
 *  of the installed data set checks both lists against the split). */
export const EMOJI_EXAMPLE_PROMPTS = {
  seen: ['red apple', 'cat face', 'blue heart'],
  heldOut: ['butterfly', 'black cat'],
} as const;

/** Skin-tone modifiers (U+1F3FB..U+1F3FF) as caption words. */
export const SKIN_TONES: Record<string, string> = {
  '1F3FB': 'light',
  '1F3FC': 'medium-light',
  '1F3FD': 'medium',
  '1F3FE': 'medium-dark',
  '1F3FF': 'dark',
};

/** One image of the data set, as the index stores it. */
export interface EmojiRecord {
  /** The emoji's name, lower case ("red apple"); the unit of the held-out split. */
  name: string;
  /** The training caption: the name, its skin tone, then short names that add words ("father christmas, santa"). */
  caption: string;
  /** Index into EMOJI_CATEGORIES. */
  category: number;
  subcategory: string;
  vendor: EmojiVendor;
  /** '' for the base emoji, else e.g. "medium-dark" or "light and dark" (two people). */
  tone: string;
  /** 'heldout' = a name never in training; 'test' = a seen name drawn by the other vendor; else 'train'. */
  split: 'train' | 'test' | 'heldout';
}

/** An emoji split: images, the category as label, the caption, and per image its record (vendor, name, split). */
export interface EmojiDataset extends ImageDataset {
  labels: Int32Array;
  classNames: string[];
  captions: string[];
  records: EmojiRecord[];
}

/** An entry of emoji-datasource's emoji.json, with the fields deepgen reads. */
export interface EmojiJsonEntry {
  name: string;
  image: string;
  short_names?: string[];
  category: string;
  subcategory?: string;
  sort_order?: number;
  skin_variations?: Record<string, { image: string } & Record<string, unknown>>;
  [key: string]: unknown;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: a fixed hash for the split, the same on every machine. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Upper-case Unicode names as caption text: lower case, '&' as "and", punctuation kept for `words()` to split on. */
export function emojiName(raw: string): string {
  return raw.toLowerCase().replace(/&/g, 'and').replace(/\s+/g, ' ').trim();
}

/** A skin-variation key ("1F3FD" or "1F3FB-1F3FF") as words: "medium", "light and dark". */
export function toneName(key: string): string {
  const parts = key.split('-').map((k) => SKIN_TONES[k.toUpperCase()]);
  if (parts.some((p) => p === undefined)) return '';
  return [...new Set(parts)].join(' and ');
}

/**
 * The caption of one emoji: its name, "<tone> skin tone" for a variant, then up to two short names that add words to
 * the name (region codes such as "flag-to" and symbols such as "+1" skipped; "smiling face with open mouth, smiley"; "red apple" stays as it is, as its short name "apple" adds nothing).
 */
export function emojiCaption(name: string, shortNames: readonly string[] = [], tone = ''): string {
  const base = tone ? `${name} ${tone} skin tone` : name;
  const known = new Set(words(base));
  const extras: string[] = [];
  for (const s of shortNames) {
    if (s.startsWith('flag-') || /[^\p{L}\p{N}_-]/u.test(s)) continue; // region codes ("flag-to") and "+1" are not words
    const text = s.replace(/[_]+/g, ' ').trim();
    const ws = words(text);
    if (ws.length === 0 || ws.every((w) => known.has(w))) continue;
    ws.forEach((w) => known.add(w));
    extras.push(ws.join(' '));
    if (extras.length === 2) break;
  }
  return [base, ...extras].join(', ');
}

export interface EmojiSplitPlan {
  /** Names never in the train split. */
  heldOut: Set<string>;
  /** Seen names whose drawing by this vendor is in the test split. */
  testDrawing: Map<string, EmojiVendor>;
}

/**
 * The fixed split of a set of names: the HELD_OUT_FRACTION of names with the smallest FNV-1a hash are held out, and the
 * next TEST_DRAWING_FRACTION of the rest lend one vendor's drawing (chosen by another hash bit) to the test split.
 * It depends on the names only, so every vendor subset and image size shares it.
 */
export function planEmojiSplit(names: readonly string[]): EmojiSplitPlan {
  const unique = [...new Set(names)].sort((a, b) => fnv1a(a) - fnv1a(b) || (a < b ? -1 : a > b ? 1 : 0));
  const nHeld = Math.ceil(unique.length * HELD_OUT_FRACTION);
  const nTest = Math.ceil((unique.length - nHeld) * TEST_DRAWING_FRACTION);
  const heldOut = new Set(unique.slice(0, nHeld));
  const testDrawing = new Map<string, EmojiVendor>();
  for (const n of unique.slice(nHeld, nHeld + nTest)) testDrawing.set(n, EMOJI_VENDORS[fnv1a(`vendor:${n}`) & 1]);
  return { heldOut, testDrawing };
}

/** Where one image goes under a plan. */
export function emojiSplitOf(plan: EmojiSplitPlan, name: string, vendor: EmojiVendor): EmojiRecord['split'] {
  if (plan.heldOut.has(name)) return 'heldout';
  return plan.testDrawing.get(name) === vendor ? 'test' : 'train';
}

/**
 * The records of one vendor's images from emoji.json (entries without this vendor's image, and the 'Component'
 * swatches, are skipped), each with its split; `file` is the PNG's name in img/<vendor>/64/.
 */
export function emojiRecords(
  entries: readonly EmojiJsonEntry[],
  vendor: EmojiVendor,
  plan: EmojiSplitPlan,
): (EmojiRecord & { file: string })[] {
  const out: (EmojiRecord & { file: string })[] = [];
  for (const e of entries) {
    const category = (EMOJI_CATEGORIES as readonly string[]).indexOf(e.category);
    if (category < 0 || e[`has_img_${vendor}`] === false) continue;
    const name = emojiName(e.name);
    const split = emojiSplitOf(plan, name, vendor);
    const common = { name, category, subcategory: e.subcategory ?? '', vendor, split };
    out.push({ ...common, caption: emojiCaption(name, e.short_names), tone: '', file: e.image });
    for (const [key, v] of Object.entries(e.skin_variations ?? {})) {
      const tone = toneName(key);
      if (!tone || v[`has_img_${vendor}`] === false) continue;
      out.push({ ...common, caption: emojiCaption(name, e.short_names, tone), tone, file: v.image });
    }
  }
  return out;
}

/** Share of the predictions per vendor, from vendor-head class indices (EMOJI_VENDORS order); NaN when empty. */
export function vendorShares(pred: ArrayLike<number>): Record<string, number> {
  const counts = EMOJI_VENDORS.map(() => 0);
  for (let i = 0; i < pred.length; i++) counts[pred[i]]++;
  return Object.fromEntries(EMOJI_VENDORS.map((v, k) => [v, pred.length ? counts[k] / pred.length : NaN]));
}

/** The distinct names of a split's records that were never in training. */
export function heldOutNames(records: readonly EmojiRecord[]): string[] {
  return [...new Set(records.filter((r) => r.split === 'heldout').map((r) => r.name))].sort();
}
