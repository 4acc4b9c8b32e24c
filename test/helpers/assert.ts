// Shared assertions: a UserError with a one-line message matching a pattern.
import assert from 'node:assert/strict';
import { UserError } from '../../src/core/errors.ts';

export function userError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `expected UserError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'message is one line');
    return true;
  });
}
