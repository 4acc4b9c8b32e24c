// metrics.jsonl survives what an interrupted append leaves: a torn last line is dropped with a warning on resume (and
// by the loss-curve reader); a bad line elsewhere is damage, one line naming it; a full disk while appending is one line
// naming the file and the fix, with the last periodic checkpoint intact and resumable.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/core/errors.ts';
import { resolveRunConfig } from '../../src/core/config/run-config.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-store.ts';
import { writeLossCurve } from '../../src/node/loss-curve-file.ts';
import { appendMetrics, parseMetricsLog } from '../../src/node/metrics-file.ts';
import { trainRun } from '../../src/node/run.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-metrics-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

const TINY = { model: { hidden: [16], latent: 2 }, data: { dataset: 'shapes', size: 8, trainN: 64, testN: 16 } };
const TINY_FLAGS = [
  '--dataset',
  'shapes',
  '--size',
  '8',
  '--train-n',
  '64',
  '--test-n',
  '16',
  '--hidden',
  '16',
  '--latent',
  '2',
  '--batch-size',
  '16',
];

/** A VAE run logging every step, stopped with a checkpoint at step `stop` of 12. */
async function stoppedRun(name: string, stop: number): Promise<string> {
  const out = path.join(TMP, name);
  const config = resolveRunConfig(
    'vae',
    [{ ...TINY, train: { steps: 12, batchSize: 16, logEvery: 1, checkpointEvery: 0 } }],
    [],
  );
  await trainRun({ config, out, backend: 'auto', quiet: true, finish: false, stopAtStep: stop, log: () => {} });
  return out;
}

const metricsSteps = (dir: string) =>
  fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).step as number);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('parseMetricsLog: only the text after the last newline may be torn; other bad lines are errors naming the line', () => {
  const good = '{"step":1,"loss":2}\n{"step":2,"loss":1.5}\n';
  const warnings: string[] = [];
  const warn = (l: string) => warnings.push(l);
  assert.deepEqual(
    parseMetricsLog(good, 'm.jsonl', warn).map((r) => r.step),
    [1, 2],
  );
  assert.equal(warnings.length, 0);
  // cut off mid-record, or the NUL bytes a power loss can leave where an append was
  for (const torn of ['{"step":3,"lo', '{', '\0\0\0\0\0\0']) {
    warnings.length = 0;
    assert.deepEqual(
      parseMetricsLog(good + torn, 'm.jsonl', warn).map((r) => r.step),
      [1, 2],
      JSON.stringify(torn),
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^deepgen: warning: dropped the incomplete last line of m\.jsonl/);
    assert.ok(!warnings[0].includes('\n') && !warnings[0].includes('\0'), 'the warning is one printable line');
  }
  // a whole record whose newline was not written yet is kept
  assert.deepEqual(
    parseMetricsLog(good + '{"step":3,"loss":1}', 'm.jsonl').map((r) => r.step),
    [1, 2, 3],
  );
  for (const bad of [
    '{"step":1,"lo\n{"step":2}\n',
    '{"step":1}\nnot json\n{"step":3}\n',
    '{"step":1}\n{"loss":2}\n',
    '{"step":1}\n[2]\n{"step":3}',
  ]) {
    assert.throws(
      () => parseMetricsLog(bad, 'm.jsonl', warn),
      (e) =>
        e instanceof UserError &&
        /^m\.jsonl line \d+ is not a metrics record .*delete that line/.test(e.message) &&
        !e.message.includes('\n'),
      JSON.stringify(bad),
    );
  }
});

test('resume drops a torn last line of metrics.jsonl with a warning and logs each step once', async () => {
  const dir = await stoppedRun('torn', 4);
  fs.appendFileSync(path.join(dir, 'metrics.jsonl'), '{"step":5,"epoch":1.25,"lo');
  const r = await runCli(['train', '--resume', '--out', dir, '--stop-at', '6', '--quiet'], { cwd: TMP });
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('deepgen: warning:'));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /dropped the incomplete last line of \S+metrics\.jsonl/);
  assert.deepEqual(metricsSteps(dir), range(1, 6));
});

test('a bad line in the middle of metrics.jsonl stops resume with one line naming it', async () => {
  const dir = await stoppedRun('middle', 4);
  const file = path.join(dir, 'metrics.jsonl');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines[1] = lines[1].slice(0, 12);
  fs.writeFileSync(file, lines.join('\n'));
  assertUserError(
    await runCli(['train', '--resume', '--out', dir, '--stop-at', '6', '--quiet'], { cwd: TMP }),
    /metrics\.jsonl line 2 is not a metrics record/,
    /delete that line/,
  );
  assert.equal(fs.readFileSync(file, 'utf8'), lines.join('\n'), 'the damaged log is left for the user to look at');
});

test('the loss curve is drawn from a metrics.jsonl with a torn last line', () => {
  const dir = fs.mkdtempSync(path.join(TMP, 'curve-'));
  const metrics = path.join(dir, 'metrics.jsonl');
  fs.writeFileSync(metrics, '{"step":1,"loss":3}\n{"step":2,"loss":2}\n{"step":3,"lo');
  const svg = writeLossCurve(metrics, path.join(dir, 'loss-curve.svg'), 'vae');
  assert.ok(svg && fs.readFileSync(svg, 'utf8').includes('<svg'));
});

test('appendMetrics on a full device (/dev/full) is a one-line UserError naming the file, the cause and the fix', () => {
  assert.throws(
    () => appendMetrics('/dev/full', { step: 1, loss: 1 }, () => 'free space, then resume'),
    (e) =>
      e instanceof UserError &&
      e.message === 'Cannot write /dev/full: no space left on the device (ENOSPC); free space, then resume',
  );
});

test('a full disk while appending to metrics.jsonl: one line, the last periodic checkpoint intact, resume completes', async () => {
  // the child's appends to metrics.jsonl fail as on a full disk from the 7th on, after writing part of the line
  const preload = path.join(TMP, 'full-disk.mjs');
  fs.writeFileSync(
    preload,
    `import fs from 'node:fs';
const append = fs.appendFileSync;
let n = 0;
fs.appendFileSync = function (file, data, ...rest) {
  if (String(file).endsWith('metrics.jsonl') && ++n > 6) {
    append.call(this, file, String(data).slice(0, 9), ...rest);
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  }
  return append.call(this, file, data, ...rest);
};
`,
  );
  const dir = path.join(TMP, 'full');
  const train = [
    'train',
    'vae',
    ...TINY_FLAGS,
    '--steps',
    '12',
    '--checkpoint-every',
    '2',
    '--log-every',
    '1',
    '--backend',
    'auto',
    '--quiet',
    '--out',
    dir,
  ];
  const r = await runCli(train, { cwd: TMP, nodeArgs: ['--import', preload] });
  const line = assertUserError(
    r,
    /^deepgen: error: Cannot write \S+metrics\.jsonl: no space left on the device \(ENOSPC\); /,
  );
  assert.ok(
    line.endsWith(
      `the checkpoint of step 6 in ${dir} is intact: free space, then \`deepgen train --resume --out ${dir}\``,
    ),
    line,
  );
  // no save was attempted at step 7: the step-6 checkpoint is complete and nothing half-written is left
  assert.equal(loadCheckpoint(dir).state.step, 6);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => /\.tmp-|^\.previous$/.test(f)),
    [],
  );
  const resumed = await runCli(['train', '--resume', '--out', dir, '--stop-at', '8', '--quiet'], { cwd: TMP });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /dropped the incomplete last line/);
  assert.deepEqual(metricsSteps(dir), range(1, 8));
});
