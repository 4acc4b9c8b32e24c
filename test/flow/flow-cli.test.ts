// The flow family end to end through the command line: train a tiny label-conditional flow on shapes, sample by label
// at --temperature 0.7 (seeded), evaluate the NLL (nats, bits/dim, round-trip error), and the flags' errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from '../helpers/cli.ts';

const TMP = mkdtempSync(path.join(os.tmpdir(), 'dg-flow-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { cwd: TMP });

const RUN = path.join(TMP, 'run');
const TINY = ['--hidden', '8', '--set', 'model.steps=2', '--set', 'model.cond.dim=8'];
let trained: Promise<CliResult> | null = null;
const train = () =>
  (trained ??= cli([
    'train',
    'flow',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--train-n',
    '64',
    '--test-n',
    '16',
    '--steps',
    '6',
    '--batch-size',
    '16',
    '--cond',
    'label',
    ...TINY,
    '--quiet',
    '--out',
    RUN,
  ]));

test('e2e: train a label-conditional flow on shapes, sample at --temperature 0.7 by label, evaluate the NLL (a bound through the dequantization)', async () => {
  const tr = await train();
  assert.equal(tr.code, 0, tr.stderr);
  const cfg = JSON.parse(readFileSync(path.join(RUN, 'config.json'), 'utf8'));
  assert.equal(cfg.family, 'flow');
  assert.equal(cfg.config.data.preprocess, 'dequantize');
  assert.equal(cfg.config.model.hidden, 8);
  for (const f of [
    'model.safetensors',
    'samples.png',
    'temperatures.png',
    'round-trip.png',
    'interpolation.png',
    'eval.json',
  ])
    assert.ok(existsSync(path.join(RUN, f)), f);
  const out = (name: string) => path.join(TMP, name);
  const s = await cli([
    'sample',
    RUN,
    '--n',
    '4',
    '--label',
    '1',
    '--temperature',
    '0.7',
    '--seed',
    '3',
    '--out',
    out('a.png'),
  ]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(readFileSync(out('a.png')).subarray(1, 4).toString(), 'PNG');
  const again = await cli([
    'sample',
    RUN,
    '--n',
    '4',
    '--label',
    '1',
    '--temperature',
    '0.7',
    '--seed',
    '3',
    '--out',
    out('b.png'),
  ]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(readFileSync(out('a.png')).equals(readFileSync(out('b.png'))), 'same seed, same samples');
  const cold = await cli([
    'sample',
    RUN,
    '--n',
    '4',
    '--label',
    '1',
    '--temperature',
    '0',
    '--seed',
    '3',
    '--out',
    out('c.png'),
  ]);
  assert.equal(cold.code, 0, cold.stderr);
  assert.ok(!readFileSync(out('a.png')).equals(readFileSync(out('c.png'))), 'the temperature changes the samples');
  const e = await cli(['eval', RUN]);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(readFileSync(path.join(RUN, 'eval.json'), 'utf8'));
  // the table shows the NLL in nats per image and bits/dim, and the round-trip error
  const l = ev.likelihood;
  assert.ok(e.stdout.includes(l.nats.toFixed(2)) && e.stdout.includes(l.bitsPerDim.toFixed(4)), e.stdout);
  assert.match(e.stdout, /roundTripMaxAbs\s+\d\.\d\de-\d+/); // a tiny error is printed in exponent form, not as 0.0000
  assert.match(e.stdout, /-log p\(x\), dequantization bound\s+\d+\.\d+\s+\d+\.\d{4}/); // nats/image and bits/dim on one row
  assert.equal(ev.n, 16);
  assert.ok(
    Math.abs(l.bitsPerDim - l.nats / (8 * 8 * 3 * Math.LN2)) < 1e-6 && l.bitsPerDim > 0 && l.bitsPerDim < 12,
    JSON.stringify(ev),
  );
  assert.ok(ev.terms.roundTripMaxAbs < 1e-4, JSON.stringify(ev));
});

test("e2e: --temperature is validated, applies to flows and GANs only (sample, eval, cond-eval), and flows reject the other families' options", async () => {
  const tr = await train();
  assert.equal(tr.code, 0, tr.stderr);
  const neg = await cli(['sample', RUN, '--temperature', '-1']);
  assert.equal(neg.code, 2);
  assert.match(neg.stderr, /--temperature must be a number >= 0/);
  const nan = await cli(['sample', RUN, '--temperature', 'warm']);
  assert.equal(nan.code, 2);
  assert.match(nan.stderr, /--temperature must be a number/);
  const guided = await cli(['sample', RUN, '--guidance', '2']);
  assert.equal(guided.code, 2);
  assert.match(guided.stderr, /--guidance applies to .*; .* is a flow/);
  const vae = path.join(TMP, 'vae');
  const v = await cli([
    'train',
    'vae',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--train-n',
    '16',
    '--test-n',
    '8',
    '--steps',
    '1',
    '--batch-size',
    '8',
    '--set',
    'model.hidden=[8]',
    '--set',
    'model.latent=2',
    '--quiet',
    '--out',
    vae,
  ]);
  assert.equal(v.code, 0, v.stderr);
  const warm = await cli(['sample', vae, '--temperature', '0.5']);
  assert.equal(warm.code, 2);
  assert.match(warm.stderr, /--temperature applies to flow and gan models; .* is a vae/);
  for (const cmd of [
    ['eval', vae, '--metrics', 'fid', '--temperature', '0.5'],
    ['cond-eval', vae, '--temperature', '0.5'],
  ]) {
    const r = await cli(cmd);
    assert.equal(r.code, 2, cmd.join(' '));
    assert.match(r.stderr, /--temperature applies to flow and gan models; .* is a vae/);
  }
});

test('e2e: a flow wants dequantized data and image sides its squeezes can halve', async () => {
  const bad = await cli([
    'train',
    'flow',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--preprocess',
    'scale01',
    '--steps',
    '1',
    '--out',
    path.join(TMP, 'bad'),
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /preprocess=dequantize/);
  const odd = await cli([
    'train',
    'flow',
    '--dataset',
    'shapes',
    '--size',
    '12',
    '--set',
    'model.scales=3',
    '--train-n',
    '8',
    '--test-n',
    '8',
    '--steps',
    '1',
    '--out',
    path.join(TMP, 'odd'),
  ]);
  assert.equal(odd.code, 2);
  assert.match(odd.stderr, /model\.scales=3 .*divisible by 8, got 12x12; use --set model\.scales=2/);
  const two = await cli([
    'train',
    'flow',
    '--dataset',
    'shapes',
    '--size',
    '8',
    '--hidden',
    '64,32',
    '--steps',
    '1',
    '--out',
    path.join(TMP, 'two'),
  ]);
  assert.equal(two.code, 2);
  assert.match(two.stderr, /--hidden 64,32: flow takes one width/);
});
