// The fallback path: with the addon made unavailable, 'auto' still starts (wasm, or cpu for conv training) and
// '--backend native' is a one-line UserError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('DEEPGEN_NO_NATIVE=1: auto falls back to wasm/cpu and native is a clear UserError', () => {
  const child = fileURLToPath(new URL('./fallback-child.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', child], {
    env: { ...process.env, DEEPGEN_NO_NATIVE: '1' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { auto: string; autoConv: string; nativeError: string };
  assert.equal(out.auto, 'wasm');
  assert.equal(out.autoConv, 'cpu');
  assert.match(
    out.nativeError,
    /^UserError: The native backend is unavailable \(disabled by DEEPGEN_NO_NATIVE=1\); use --backend wasm or cpu/,
  );
  assert.ok(!out.nativeError.includes('\n'), 'one line');
});
