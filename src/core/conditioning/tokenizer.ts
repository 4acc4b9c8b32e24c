// Prompt tokenizers: the interface every tokenizer meets (PromptTokenizer), words(), padded encoding, and the word-level
// tokenizer over a model's vocabulary (DataInfo.vocabulary). Ids: 0 = <pad>, 1 = <unk>; the word tokenizer never
// emits <unk> (an unknown word is an error), its words have ids from 2 in sorted order. Subwords: bpe.ts.
import { UserError } from '../errors.ts';

export const PAD_ID = 0;
export const UNK_ID = 1;

/** Lower-case words of a text; anything that is not a letter or digit separates words ("t-shirt/top" -> t, shirt, top). */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

export interface Encoded {
  /** [B * maxTokens] token ids, row-major, padded with PAD_ID. */
  ids: Int32Array;
  /** [B * maxTokens] 1 for a token, 0 for padding. */
  mask: Float32Array;
}

/** What a text conditioner needs from a tokenizer: ids for prompts (PAD_ID 0, UNK_ID 1, the rest from 2). */
export interface PromptTokenizer {
  /** 'word' (one id per known word) or 'bpe' (subword pieces), as model.cond.tokenizer names it. */
  readonly kind: 'word' | 'bpe';
  /** Number of ids, including <pad> and <unk>. */
  readonly size: number;
  /** Token ids of one prompt (no padding); an empty prompt, more than maxTokens tokens, or (word) an unknown word is
   *  a UserError. */
  tokenize(prompt: string, maxTokens: number): number[];
  /** Each prompt padded to maxTokens: ids and mask [B * maxTokens]. */
  encode(prompts: string[], maxTokens: number): Encoded;
  /** The prompt's text back from ids (padding dropped). */
  decode(ids: ArrayLike<number>): string;
  /** Whether a word (as words() gives it) maps to ids without error or <unk>. */
  knows(word: string): boolean;
}

/** Pads each prompt's tokens to maxTokens: ids and mask [B * maxTokens]. */
export function encodePadded(tok: PromptTokenizer, prompts: string[], maxTokens: number): Encoded {
  const B = prompts.length;
  const ids = new Int32Array(B * maxTokens);
  const mask = new Float32Array(B * maxTokens);
  prompts.forEach((p, b) => {
    tok.tokenize(p, maxTokens).forEach((id, t) => {
      ids[b * maxTokens + t] = id;
      mask[b * maxTokens + t] = 1;
    });
  });
  return { ids, mask };
}

/** The one-line error for a prompt with no words; `example` is a prompt the model takes. */
export function noWordsError(prompt: string, example: string): UserError {
  return new UserError(`prompt ${JSON.stringify(prompt)} has no words; give a short description such as "${example}"`);
}

/** The word-level tokenizer: one id per distinct vocabulary word; a word outside the vocabulary is a UserError. */
export class Tokenizer implements PromptTokenizer {
  readonly kind = 'word';
  /** The distinct words, sorted; word i has id i + 2. */
  readonly words: string[];
  private readonly index = new Map<string, number>();

  constructor(vocabulary: string[]) {
    // vocabulary entries are whitespace-split caption words; normalise them the way prompts are
    this.words = [...new Set(vocabulary.flatMap(words))].sort();
    this.words.forEach((w, i) => this.index.set(w, i + 2));
  }

  /** Number of ids, including <pad> and <unk>. */
  get size(): number {
    return this.words.length + 2;
  }

  /** Token ids of one prompt (no padding); validates it. */
  tokenize(prompt: string, maxTokens: number): number[] {
    const ws = words(prompt);
    if (ws.length === 0) throw noWordsError(prompt, this.example());
    if (ws.length > maxTokens)
      throw new UserError(
        `prompt ${JSON.stringify(prompt)} has ${ws.length} words; this model reads at most ${maxTokens} (model.cond.maxTokens)`,
      );
    return ws.map((w) => {
      const id = this.index.get(w);
      if (id === undefined)
        throw new UserError(
          `prompt word ${JSON.stringify(w)} is not in this model's vocabulary; known words: ${this.listing()}`,
        );
      return id;
    });
  }

  /** Pad each prompt to maxTokens: ids and mask [B * maxTokens]. */
  encode(prompts: string[], maxTokens: number): Encoded {
    return encodePadded(this, prompts, maxTokens);
  }

  knows(word: string): boolean {
    return this.index.has(word);
  }

  /** The prompt's words back from ids (padding dropped). */
  decode(ids: ArrayLike<number>): string {
    return Array.from(ids)
      .filter((id) => id !== PAD_ID)
      .map((id) => (id === UNK_ID ? '<unk>' : this.words[id - 2]))
      .join(' ');
  }

  private listing(limit = 200): string {
    const shown = this.words.slice(0, limit).join(', ');
    return this.words.length > limit ? `${shown} ... (${this.words.length - limit} more)` : shown;
  }

  private example(): string {
    return this.words.slice(0, 3).join(' ');
  }
}
