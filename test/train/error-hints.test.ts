// Core errors carry a typed hint instead of CLI flags: the message words it plainly (the web page, library callers),
// the CLI's fail() words it with its flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError, wordHint, type ErrorHint } from '../../src/core/errors.ts';
import { givenConds, sampleCondInput } from '../../src/core/conditioning/conditioner.ts';
import { cliHint, cliWords, fail } from '../../src/cli/common.ts';

function caught(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof UserError, String(e));
    return e;
  }
  assert.fail('expected a UserError');
}

/** What fail() writes to stderr and its exit code, with process.exit and stderr stubbed for the call. */
function failOutput(e: unknown): { line: string; code: number } {
  const write = process.stderr.write,
    exit = process.exit;
  let line = '';
  let code = -1;
  process.stderr.write = ((s: string) => ((line += s), true)) as typeof process.stderr.write;
  process.exit = ((c: number) => {
    code = c;
    throw new Error('exit');
  }) as typeof process.exit;
  try {
    fail(e);
  } catch {
    // the stubbed exit
  } finally {
    process.stderr.write = write;
    process.exit = exit;
  }
  return { line, code };
}

test('a core UserError carries its hint; its message words it plainly, without CLI flags', () => {
  const labels = caught(() => givenConds(null, { labels: [1] }, 'this vae'));
  assert.deepEqual(labels.hint, { kind: 'setting', key: 'model.cond.kind', value: 'label' });
  assert.equal(labels.problem, 'this vae is not label-conditional (cond.kind = none), so labels do not apply');
  assert.equal(
    labels.message,
    'this vae is not label-conditional (cond.kind = none), so labels do not apply; train with model.cond.kind=label',
  );
  const drop = caught(() => sampleCondInput(null, 2, { prompts: ['a red circle'] }, 'this gan'));
  assert.deepEqual(drop.hint, { kind: 'option', option: 'prompt', action: 'drop' });
  for (const e of [labels, drop]) assert.doesNotMatch(e.message, /--/);
  assert.equal(new UserError('plain').message, 'plain');
  assert.equal(new UserError('plain').hint, undefined);
});

test('the CLI words each hint with its flags, and fail() prints it in one line with exit 2', () => {
  const cases: [ErrorHint, string, string][] = [
    [
      { kind: 'setting', key: 'model.cond.kind', value: 'label' },
      'train with --conditional',
      'train with model.cond.kind=label',
    ],
    [
      { kind: 'setting', key: 'model.cond.kind', value: 'text' },
      'train with --cond text',
      'train with model.cond.kind=text',
    ],
    [
      { kind: 'setting', key: 'train.batchSize', value: 64 },
      'train with --batch-size 64',
      'train with train.batchSize=64',
    ],
    [{ kind: 'setting', key: 'model.heads', value: 4 }, 'train with --set model.heads=4', 'train with model.heads=4'],
    [{ kind: 'option', option: 'label', action: 'drop' }, 'sample without --label', 'sample without a label'],
    [
      { kind: 'option', option: 'prompt', action: 'pass', instead: 'label' },
      'use --prompt instead of --label',
      'pass a prompt instead of a label',
    ],
    [
      { kind: 'option', option: 'label', action: 'pass' },
      'pass class labels (--label N or a class name)',
      'pass a class label (its index or name)',
    ],
  ];
  for (const [hint, cli, plain] of cases) {
    assert.equal(cliHint(hint), cli);
    assert.equal(wordHint(hint), plain);
  }
  const e = caught(() => givenConds(null, { labels: [1] }, 'this vae'));
  assert.deepEqual(failOutput(e), {
    line: 'deepgen: error: this vae is not label-conditional (cond.kind = none), so labels do not apply; train with --conditional\n',
    code: 2,
  });
  assert.deepEqual(failOutput(new UserError('no hint\nhere')), { line: 'deepgen: error: no hint here\n', code: 2 });
  // a config setting a core message asks for is worded as the CLI's --set
  assert.equal(
    cliWords('divisible by 8, got 12x12; set model.scales=2'),
    'divisible by 8, got 12x12; use --set model.scales=2',
  );
  assert.equal(cliWords('the data set model is fine'), 'the data set model is fine');
  assert.deepEqual(failOutput(new UserError('too deep; set model.stages=2')), {
    line: 'deepgen: error: too deep; use --set model.stages=2\n',
    code: 2,
  });
});
