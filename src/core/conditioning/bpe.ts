// Byte-pair-encoding subword tokenizer (Sennrich et al. 2016) for open-vocabulary prompts: merges learned from the
// training caption words, stored with the model (DataInfo.merges), so an unseen word splits into known pieces.
// Ids: 0 = <pad>, 1 = <unk> (a character never seen in training), then each seen character c as `c` and `c</w>`
// (sorted), then each merge's new symbol in merge order.
import { UserError } from '../errors.ts';
import { encodePadded, noWordsError, PAD_ID, UNK_ID, words, type Encoded, type PromptTokenizer } from './tokenizer.ts';

/** Marks a word's last symbol, so the word "cat" (in "cat face": `cat</w>`) and the start of "catalog" (`cat`) differ. */
export const END_OF_WORD = '</w>';

/** A word as symbols before any merge: its characters (code points), the last one marked with END_OF_WORD. */
function symbolsOf(word: string): string[] {
  const cs = Array.from(word);
  if (cs.length) cs[cs.length - 1] += END_OF_WORD;
  return cs;
}

/** The key of an adjacent pair: "left right" (symbols never hold a space: words() splits on it). */
const pairKey = (l: string, r: string) => `${l} ${r}`;

/** s with every occurrence of the pair (l, r), left to right, replaced by one symbol l + r. */
function mergePair(s: string[], l: string, r: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) {
    if (i + 1 < s.length && s[i] === l && s[i + 1] === r) {
      out.push(l + r);
      i++;
    } else out.push(s[i]);
  }
  return out;
}

/** Adds sign x (the number of times each adjacent pair occurs in s) to counts, dropping pairs that reach 0. */
function countPairs(counts: Map<string, number>, s: string[], sign: 1 | -1): void {
  for (let i = 0; i + 1 < s.length; i++) {
    const k = pairKey(s[i], s[i + 1]);
    const n = (counts.get(k) ?? 0) + sign;
    if (n === 0) counts.delete(k);
    else counts.set(k, n);
  }
}

/**
 * Up to `count` BPE merges ("left right", in merge order) learned from the distinct words of `texts` (split as words()
 * splits prompts): each step merges the adjacent pair found in the most words, ties going to the lexicographically
 * smallest "left right" (UTF-16 code-unit order, so the result does not depend on the locale); it stops early when
 * every word is one symbol. Counting is type-level (each distinct word once, however often captions repeat it): the
 * merges depend on the vocabulary alone (the order and repetition of captions do not matter, and DataInfo.vocabulary
 * reproduces them), and templated captions ("a", "the" in every caption) do not crowd out the pieces that many
 * different words share, which is what lets an unseen word split into known pieces.
 */
export function learnMerges(texts: Iterable<string>, count: number): string[] {
  const seqs = [...new Set([...texts].flatMap(words))].sort().map(symbolsOf);
  const counts = new Map<string, number>();
  for (const s of seqs) countPairs(counts, s, 1);
  const merges: string[] = [];
  while (merges.length < count && counts.size > 0) {
    let best = '',
      most = 0;
    for (const [k, n] of counts) if (n > most || (n === most && k < best)) [best, most] = [k, n];
    merges.push(best);
    const [l, r] = best.split(' ');
    seqs.forEach((s, i) => {
      if (!s.some((x, j) => x === l && s[j + 1] === r)) return;
      countPairs(counts, s, -1);
      seqs[i] = mergePair(s, l, r);
      countPairs(counts, seqs[i], 1);
    });
  }
  return merges;
}

/** The subword tokenizer: a word is split into characters and the learned merges applied in order of learning. */
export class BpeTokenizer implements PromptTokenizer {
  readonly kind = 'bpe';
  /** The symbols; symbol i has id i + 2. */
  readonly symbols: string[];
  /** The merges, "left right" in merge order (DataInfo.merges). */
  readonly merges: readonly string[];
  private readonly ids = new Map<string, number>();
  private readonly rank = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly vocabulary: string[];

  /** `vocabulary`: the training caption words (their characters are the alphabet); `merges`: from learnMerges. */
  constructor(vocabulary: string[], merges: readonly string[]) {
    this.vocabulary = [...new Set(vocabulary.flatMap(words))].sort();
    const alphabet = [...new Set(this.vocabulary.flatMap((w) => Array.from(w)))].sort();
    this.symbols = alphabet.flatMap((c) => [c, c + END_OF_WORD]);
    this.symbols.forEach((s) => this.ids.set(s, this.ids.size + 2));
    merges.forEach((m, i) => {
      const [l, r, ...rest] = m.split(' ');
      // a merge of symbols no earlier step made would never apply: the merges were edited or belong to other data
      if (rest.length || !this.ids.has(l) || !this.ids.has(r))
        throw new UserError(
          `BPE merge ${i} ${JSON.stringify(m)} joins symbols that neither the vocabulary nor an earlier merge makes; dataInfo.merges and dataInfo.vocabulary must come from one training run: restore the checkpoint or train again`,
        );
      if (!this.rank.has(m)) this.rank.set(m, i);
      if (!this.ids.has(l + r)) {
        this.ids.set(l + r, this.ids.size + 2);
        this.symbols.push(l + r);
      }
    });
    this.merges = [...merges];
  }

  /** Number of ids, including <pad> and <unk>. */
  get size(): number {
    return this.symbols.length + 2;
  }

  /** The pieces of one word (as words() gives it), e.g. "pineapple" -> pine, apple</w>; an unseen character is <unk>. */
  pieces(word: string): string[] {
    return this.wordIds(word).map((id) => (id === UNK_ID ? '<unk>' : this.symbols[id - 2]));
  }

  /** Token ids of one prompt (no padding): the pieces of each word in turn. */
  tokenize(prompt: string, maxTokens: number): number[] {
    const ws = words(prompt);
    if (ws.length === 0) throw noWordsError(prompt, this.vocabulary.slice(0, 3).join(' '));
    const ids = ws.flatMap((w) => this.wordIds(w));
    if (ids.length > maxTokens)
      throw new UserError(
        `prompt ${JSON.stringify(prompt)} has ${ids.length} subword tokens (${ws.length} words); this model reads at most ${maxTokens} (model.cond.maxTokens): shorten it`,
      );
    return ids;
  }

  encode(prompts: string[], maxTokens: number): Encoded {
    return encodePadded(this, prompts, maxTokens);
  }

  /** The text back from ids: pieces joined, END_OF_WORD as a space (an <unk> does not say whether a word ended). */
  decode(ids: ArrayLike<number>): string {
    return Array.from(ids)
      .filter((id) => id !== PAD_ID)
      .map((id) => (id === UNK_ID ? '<unk>' : (this.symbols[id - 2] ?? '<unk>')))
      .join('')
      .split(END_OF_WORD)
      .join(' ')
      .trim();
  }

  /** Whether every character of the word was seen in training (it splits into pieces without <unk>). */
  knows(word: string): boolean {
    return !this.wordIds(word).includes(UNK_ID);
  }

  /** The ids of one word: its symbols, the learned merges applied lowest rank first; a run of unseen characters is
   *  one UNK_ID (so a word in an unseen script costs one token, not one per character). Cached per word. */
  private wordIds(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let s = symbolsOf(word);
    for (;;) {
      let best = -1,
        at = -1;
      for (let j = 0; j + 1 < s.length; j++) {
        const r = this.rank.get(pairKey(s[j], s[j + 1]));
        if (r !== undefined && (best < 0 || r < best)) [best, at] = [r, j];
      }
      if (best < 0) break;
      s = mergePair(s, s[at], s[at + 1]);
    }
    const ids: number[] = [];
    for (const x of s) {
      const id = this.ids.get(x) ?? UNK_ID;
      if (id !== UNK_ID || ids[ids.length - 1] !== UNK_ID) ids.push(id);
    }
    if (this.cache.size < 10_000) this.cache.set(word, ids);
    return ids;
  }
}
