// Tests for the prompt tokenizers: the word-level one (round trips, normalisation, unknown words, length limits) and
// BPE subwords (deterministic merges, unseen words as known pieces, unseen characters as <unk>, merges in dataInfo).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer, PAD_ID, UNK_ID, words } from '../../src/core/conditioning/tokenizer.ts';
import { BpeTokenizer, END_OF_WORD, learnMerges } from '../../src/core/conditioning/bpe.ts';
import { tokenizerFor } from '../../src/core/conditioning/conditioner.ts';
import { condSchema } from '../../src/core/conditioning/config.ts';
import { parseDataInfo } from '../../src/core/checkpoint/data-info.ts';
import { Rng } from '../../src/core/tensor/rng.ts';
import { userError } from '../helpers/assert.ts';

const VOCAB = ['a', 'at', 'blue', 'circle', 'left', 'red', 'small', 'the', 'top', 't-shirt/top', 'ankle'];

test('words: lower-case, punctuation separates words', () => {
  assert.deepEqual(words('  A Small, RED circle!  '), ['a', 'small', 'red', 'circle']);
  assert.deepEqual(words('t-shirt/top'), ['t', 'shirt', 'top']);
  assert.deepEqual(words(' ... '), []);
});

test('ids: 0 pad, 1 unk, sorted words from 2; vocabulary entries are normalised like prompts', () => {
  const tok = new Tokenizer(VOCAB);
  assert.deepEqual(tok.words, [
    'a',
    'ankle',
    'at',
    'blue',
    'circle',
    'left',
    'red',
    'shirt',
    'small',
    't',
    'the',
    'top',
  ]);
  assert.equal(tok.size, tok.words.length + 2);
  assert.deepEqual(tok.tokenize('a blue circle', 8), [2, 5, 6]);
});

test('encode pads to maxTokens with a 0/1 mask, and decode round-trips', () => {
  const tok = new Tokenizer(VOCAB);
  const prompts = ['a small red circle at the top left', 'Blue circle.', 'T-shirt/top'];
  const { ids, mask } = tok.encode(prompts, 8);
  assert.equal(ids.length, 24);
  assert.equal(mask.length, 24);
  for (let b = 0; b < 3; b++) {
    const row = ids.slice(b * 8, b * 8 + 8);
    assert.equal(tok.decode(row), words(prompts[b]).join(' '));
    const m = Array.from(mask.slice(b * 8, b * 8 + 8));
    const n = words(prompts[b]).length;
    assert.deepEqual(m, [...new Array(n).fill(1), ...new Array(8 - n).fill(0)]);
    for (let t = n; t < 8; t++) assert.equal(row[t], PAD_ID);
  }
});

test('an unknown word names the word and lists the vocabulary', () => {
  const tok = new Tokenizer(VOCAB);
  userError(
    () => tok.encode(['a pink circle'], 8),
    /prompt word "pink" is not in this model's vocabulary; known words: a, ankle, at, blue, circle/,
  );
});

test('empty and over-long prompts are clear user errors', () => {
  const tok = new Tokenizer(VOCAB);
  userError(() => tok.encode([''], 8), /has no words/);
  userError(() => tok.encode(['!?'], 8), /has no words/);
  userError(
    () => tok.encode(['a small red circle at the top left'], 4),
    /8 words; this model reads at most 4 \(model\.cond\.maxTokens\)/,
  );
  assert.doesNotThrow(() => tok.encode(['a small red circle'], 4), 'exactly maxTokens is fine');
});

// ---------------------------------------------------------------- BPE subwords
const CAPTIONS = ['red apple', 'green apple', 'cat face', 'grinning cat', 'Grinning face with big eyes', 'catalog'];
const bpeOf = (captions: string[], count = 800) =>
  new BpeTokenizer(captions.flatMap(words), learnMerges(captions, count));

test('learnMerges: deterministic, type-level (caption order and repetition do not matter), stops when words are whole', () => {
  const m = learnMerges(CAPTIONS, 800);
  assert.deepEqual(learnMerges(CAPTIONS, 800), m, 'same input, same merges');
  const shuffled = new Rng(3).shuffle([...CAPTIONS, ...CAPTIONS, 'red apple']) as string[];
  assert.deepEqual(learnMerges(shuffled, 800), m, 'caption order and repeats do not matter');
  assert.deepEqual(learnMerges([...new Set(CAPTIONS.flatMap(words))], 800), m, 'the vocabulary reproduces them');
  // the first merge: the pair in the most distinct words; ties go to the smallest "left right"
  assert.deepEqual(learnMerges(['xy', 'zxy', 'ab'], 1), ['x y</w>'], 'the pair in the most words');
  assert.deepEqual(learnMerges(['xy', 'ba', 'ab'], 1), ['a b</w>'], 'a tie: the smallest "left right"');
  assert.deepEqual(learnMerges(['xy xy xy', 'ab'], 1), ['a b</w>'], 'each distinct word counts once: a tie');
  assert.deepEqual(learnMerges(CAPTIONS, 5), m.slice(0, 5), 'a smaller count is a prefix');
  assert.deepEqual(learnMerges(CAPTIONS, 0), []);
  // every word whole: as many merges as needed and no more; each merge is "left right"
  const t = new BpeTokenizer(CAPTIONS.flatMap(words), m);
  for (const w of new Set(CAPTIONS.flatMap(words))) assert.deepEqual(t.pieces(w), [w + END_OF_WORD]);
  assert.ok(m.length < 800);
  assert.ok(m.every((x) => /^[^ ]+ [^ ]+$/.test(x)));
});

test('BPE: training words round-trip; unseen words split into known pieces, not <unk>', () => {
  const tok = bpeOf(CAPTIONS);
  const { ids, mask } = tok.encode(['grinning cat face', 'red apple', 'catalog cat'], 6);
  for (const [b, p] of ['grinning cat face', 'red apple', 'catalog cat'].entries())
    assert.equal(tok.decode(ids.slice(b * 6, b * 6 + 6)), p);
  assert.deepEqual(Array.from(mask.slice(0, 6)), [1, 1, 1, 0, 0, 0], 'a whole training word is one token');
  // the end-of-word marker: the word "cat" and the start of "catalog" are different tokens
  const cats = bpeOf(['cat', 'catalog', 'catnip']);
  assert.deepEqual(cats.pieces('cat'), ['cat' + END_OF_WORD]);
  assert.equal(cats.pieces('cattail')[0], 'cat', 'a word starting with "cat" starts with the piece without the marker');
  assert.notEqual(cats.tokenize('cat', 4)[0], cats.tokenize('cattail', 8)[0]);
  for (const w of ['pineapple', 'redcat', 'applecat', 'facet']) {
    const ids = tok.tokenize(w, 16);
    assert.ok(!ids.includes(UNK_ID), `${w}: no <unk> in ${tok.pieces(w)}`);
    assert.ok(ids.every((id) => id >= 2 && id < tok.size));
    assert.ok(tok.knows(w));
    assert.equal(tok.decode(ids), w, `${w} decodes from its pieces`);
  }
  assert.deepEqual(tok.pieces('pineapple').slice(-1), ['apple' + END_OF_WORD], 'pineapple ends in the known "apple"');
  assert.deepEqual(tok.pieces('redcat').slice(-1), ['cat' + END_OF_WORD], 'redcat ends in the known word "cat"');
  // the same prompt in any case or punctuation gives the same ids
  assert.deepEqual(tok.tokenize('Pine-APPLE!', 16), tok.tokenize('pine apple', 16));
});

test('BPE: an unseen character is <unk> (a run of them one <unk>), no error; ids cover the alphabet in both forms', () => {
  const tok = bpeOf(CAPTIONS);
  const alphabet = [...new Set(CAPTIONS.flatMap(words).join(''))];
  assert.ok(tok.size >= 2 + 2 * alphabet.length);
  assert.deepEqual(tok.symbols.slice(0, 2), ['a', 'a' + END_OF_WORD]);
  assert.deepEqual(tok.tokenize('zzz', 4), [UNK_ID], 'an unseen word of unseen characters: one <unk>');
  const cafe = tok.tokenize('caté', 4);
  assert.equal(cafe[cafe.length - 1], UNK_ID);
  assert.ok(cafe.slice(0, -1).every((id) => id >= 2));
  assert.equal(tok.knows('caté'), false);
  // an unseen script: one <unk> for the word (decode cannot tell where it ended); an emoji is no word at all
  assert.equal(tok.tokenize('red 日本語 apple', 8).length, 3);
  assert.equal(tok.decode(tok.tokenize('red 日本語 apple', 8)), 'red <unk>apple');
  assert.deepEqual(tok.tokenize('red 😀 apple', 8), tok.tokenize('red apple', 8));
});

test('BPE: padding and mask; maxTokens counts subword tokens, not words; empty prompts are user errors', () => {
  const tok = bpeOf(CAPTIONS);
  const n = tok.tokenize('pineapple cat', 16).length;
  assert.ok(n > 2, 'more tokens than words');
  const { ids, mask } = tok.encode(['pineapple cat', 'cat'], n + 2);
  assert.deepEqual(Array.from(mask), [...new Array(n).fill(1), 0, 0, 1, ...new Array(n + 1).fill(0)]);
  for (let t = n; t < n + 2; t++) assert.equal(ids[t], PAD_ID);
  userError(
    () => tok.encode(['pineapple cat'], n - 1),
    new RegExp(
      `has ${n} subword tokens \\(2 words\\); this model reads at most ${n - 1} \\(model\\.cond\\.maxTokens\\)`,
    ),
  );
  assert.doesNotThrow(() => tok.encode(['pineapple cat'], n), 'exactly maxTokens is fine');
  userError(() => tok.encode(['?!'], 8), /has no words; give a short description such as "apple big cat"/);
});

test('tokenizerFor: word by default; bpe uses dataInfo.merges, or learns cond.merges from the vocabulary', () => {
  const vocabulary = [...new Set(CAPTIONS.flatMap(words))].sort();
  const info = { height: 8, width: 8, channels: 3, numClasses: 0, vocabulary };
  const word = tokenizerFor(condSchema.parse({ kind: 'text' }), info);
  assert.equal(word.kind, 'word');
  userError(() => word.tokenize('pineapple', 8), /"pineapple" is not in this model's vocabulary/);
  const learned = tokenizerFor(condSchema.parse({ kind: 'text', tokenizer: 'bpe', merges: 10 }), info);
  assert.equal(learned.kind, 'bpe');
  assert.deepEqual((learned as BpeTokenizer).merges, learnMerges(vocabulary, 10));
  const merges = learnMerges(vocabulary, 3);
  const stored = tokenizerFor(condSchema.parse({ kind: 'text', tokenizer: 'bpe' }), { ...info, merges });
  assert.deepEqual((stored as BpeTokenizer).merges, merges, "the checkpoint's merges, not cond.merges");
  assert.equal(stored.size, 2 + 2 * new Set(vocabulary.join('')).size + 3);
  // merges that the vocabulary cannot make are a one-line error
  userError(
    () => tokenizerFor(condSchema.parse({ kind: 'text', tokenizer: 'bpe' }), { ...info, merges: ['q u'] }),
    /BPE merge 0 "q u" joins symbols that neither the vocabulary nor an earlier merge makes; .*train again$/,
  );
});

test('condSchema: tokenizer word (default) | bpe, merges an integer >= 0', () => {
  const c = condSchema.parse({});
  assert.equal(c.tokenizer, 'word');
  assert.equal(c.merges, 800);
  assert.equal(condSchema.safeParse({ tokenizer: 'char' }).success, false);
  assert.equal(condSchema.safeParse({ merges: -1 }).success, false);
  assert.equal(condSchema.safeParse({ merges: 1.5 }).success, false);
  assert.equal(condSchema.safeParse({ tokenizer: 'bpe', merges: 0 }).success, true);
});

test('dataInfo.merges survives parseDataInfo; a bad entry is a one-line error naming it', () => {
  const merges = learnMerges(CAPTIONS, 20);
  const d = { height: 8, width: 8, channels: 3, numClasses: 0, vocabulary: ['red', 'apple'], merges };
  const info = parseDataInfo(JSON.parse(JSON.stringify(d)), 'config.json in runs/x');
  assert.deepEqual(info.merges, merges);
  assert.equal(parseDataInfo({ ...d, merges: undefined }, 'c').merges, undefined, 'optional');
  for (const [bad, pattern] of [
    [['a b', 'ab'], /dataInfo\.merges\[1\] "ab", expected a BPE merge "left right"/],
    [['a  b'], /dataInfo\.merges\[0\] "a {2}b"/],
    [['a b c'], /dataInfo\.merges\[0\] "a b c"/],
    [[' b'], /dataInfo\.merges\[0\]/],
    [[3], /dataInfo\.merges \[3\], expected a list of BPE merges/],
    ['a b', /dataInfo\.merges "a b", expected a list/],
  ] as const)
    userError(
      () => parseDataInfo({ ...d, merges: bad }, 'config.json in runs/x'),
      new RegExp(`^config\\.json in runs/x has ${pattern.source}.*the checkpoint is damaged`),
    );
});
