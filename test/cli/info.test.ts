// `deepgen info`: reports the backend in use, the BLAS found and a GFLOPS figure; the fallback without the addon.
import { BIN as SRC_BIN } from '../helpers/cli.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const BIN = SRC_BIN;
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

test('e2e: info --json names the backend, the BLAS and a positive GFLOPS figure', () => {
  const r = run(['info', '--json', '--seconds', '0.1']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(['native', 'wasm', 'cpu'].includes(j.backend));
  assert.ok(j.sgemmGflops > 0);
  if (process.env.DEEPGEN_REQUIRE_NATIVE) {
    assert.equal(j.backend, 'native');
    assert.ok(j.native.blas, 'BLAS named');
  }
});

test('e2e: info without the addon falls back to wasm and says why', () => {
  const r = run(['info', '--seconds', '0.1'], { DEEPGEN_NO_NATIVE: '1' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /backend: wasm/);
  assert.match(r.stdout, /native addon unavailable: disabled by DEEPGEN_NO_NATIVE=1/);
  const bad = run(['info', '--backend', 'native'], { DEEPGEN_NO_NATIVE: '1' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^deepgen: error: The native backend is unavailable/);
});
