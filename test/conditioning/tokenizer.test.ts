// Tests for the word-level prompt tokenizer: round trips, normalisation, unknown words and length limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer, PAD_ID, words } from '../../src/core/conditioning/tokenizer.ts';
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
