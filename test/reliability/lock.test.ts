// One trainer per run folder (issue 19, item 4): the lock file, its stale detection and release, in-process and with
// real `deepgen train` processes (a second trainer gets one line and exit 2; a SIGKILLed trainer's lock is taken over).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireRunLock, LOCK_FILE } from '../../src/node/run-lock.ts';
import { processStartTicks } from '../../src/node/pid.ts';
import { UserError } from '../../src/core/errors.ts';
import { loadCheckpoint } from '../../src/node/checkpoint-store.ts';
import { BIN, runCli } from '../helpers/cli.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-lock-'));
let n = 0;
const newDir = () => path.join(TMP, `run-${++n}`);
const DEAD_PID = 2 ** 30; // above any pid_max: no such process
const lockOf = (dir: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as {
    pid: number;
    host: string;
    since: string;
    startTicks: number | null;
  };
const writeLock = (dir: string, owner: object) => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, LOCK_FILE),
    JSON.stringify({
      host: os.hostname(),
      since: '2020-01-01T00:00:00.000Z',
      startTicks: null,
      command: 'deepgen train',
      ...owner,
    }),
  );
};

function inUse(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e) => e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n'));
}

test('a lock names its owner; a second lock of the same folder is refused until released', () => {
  const dir = newDir();
  const warnings: string[] = [];
  const lock = acquireRunLock(dir, { warn: (l) => warnings.push(l) });
  assert.equal(lockOf(dir).pid, process.pid);
  inUse(
    () => acquireRunLock(dir, { warn: (l) => warnings.push(l) }),
    new RegExp(
      `^run folder ${dir} in use by pid ${process.pid} \\(deepgen train since \\d{4}-.*\\); wait for it to finish or stop it, or choose another --out$`,
    ),
  );
  fs.writeFileSync(path.join(dir, 'state.json'), '{}');
  lock.release();
  lock.release();
  assert.deepEqual(fs.readdirSync(dir), ['state.json'], 'the lock is gone, the run folder kept');
  acquireRunLock(dir, { warn: (l) => warnings.push(l) }).release();
  assert.deepEqual(warnings, []);
});

test('a lock whose owner is gone, or damaged, is taken over with a warning', () => {
  const dir = newDir();
  writeLock(dir, { pid: DEAD_PID });
  const warnings: string[] = [];
  const lock = acquireRunLock(dir, { warn: (l) => warnings.push(l) });
  assert.deepEqual(warnings, [
    `deepgen: warning: run folder ${dir} was locked by pid ${DEAD_PID} (deepgen train since 2020-01-01T00:00:00.000Z), which is no longer running; taking over the lock`,
  ]);
  assert.equal(lockOf(dir).pid, process.pid);
  lock.release();

  fs.writeFileSync(path.join(dir, LOCK_FILE), '{"pid": 12');
  acquireRunLock(dir, { warn: (l) => warnings.push(l) }).release();
  assert.match(warnings[1], /has a damaged lock file .*\.deepgen\.lock; taking over the lock$/);
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
});

test('a live pid that started after the lock was taken is not its owner (pid reuse); another host is trusted', () => {
  const dir = newDir();
  const ticks = processStartTicks(process.ppid);
  writeLock(dir, { pid: process.ppid, startTicks: ticks === null ? null : ticks + 1 });
  const warnings: string[] = [];
  if (ticks === null)
    inUse(() => acquireRunLock(dir, { warn: (l) => warnings.push(l) }), /in use by pid/); // no /proc: the pid alone decides
  else acquireRunLock(dir, { warn: (l) => warnings.push(l) }).release();
  assert.equal(warnings.length, ticks === null ? 0 : 1);

  writeLock(dir, { pid: process.ppid, startTicks: ticks }); // the real owner
  inUse(() => acquireRunLock(dir, { warn: () => {} }), new RegExp(`in use by pid ${process.ppid} `));
  writeLock(dir, { pid: DEAD_PID, host: 'elsewhere' });
  inUse(
    () => acquireRunLock(dir, { warn: () => {} }),
    new RegExp(
      `^run folder ${dir} in use by pid ${DEAD_PID} on host elsewhere \\(.*\\); wait for it to finish, or delete .*\\.deepgen\\.lock if it is no longer running$`,
    ),
  );
});

test('release leaves a lock that is no longer ours, and removes the run folder it created while empty', () => {
  const dir = newDir();
  const lock = acquireRunLock(dir, { warn: () => {} });
  writeLock(dir, { pid: DEAD_PID }); // taken over by someone who thought we were gone
  lock.release();
  assert.equal(lockOf(dir).pid, DEAD_PID);
  const fresh = path.join(newDir(), 'nested');
  acquireRunLock(fresh, { warn: () => {} }).release();
  assert.equal(fs.existsSync(fresh), false, 'a failed start leaves no empty run folder');
});

test('the lock is released when the process exits without unwinding (process.exit, as on a second Ctrl-C)', () => {
  const dir = newDir();
  const code = `import { acquireRunLock } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../src/node/run-lock.ts'))};
acquireRunLock(${JSON.stringify(dir)}, { warn: () => {} }); process.exit(130);`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env,
    encoding: 'utf8',
    cwd: path.resolve(import.meta.dirname, '../..'),
  });
  assert.equal(r.status, 130, r.stderr);
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
});

// ------------------------------------------------------------------ real trainers
const TINY = [
  '--dataset',
  'shapes',
  '--size',
  '16',
  '--train-n',
  '64',
  '--test-n',
  '16',
  '--batch-size',
  '16',
  '--hidden',
  '16',
  '--latent',
  '2',
  '--backend',
  'auto',
  '--quiet',
];

const trainers: ChildProcess[] = [];
after(() => {
  for (const c of trainers) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); // a failed test must not leave one running
  fs.rmSync(TMP, { recursive: true, force: true, maxRetries: 5 });
});

/** `deepgen train vae` into `dir` for (nearly) ever, in the background. */
function longTrainer(dir: string, extra: string[] = []) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [BIN, 'train', 'vae', ...TINY, '--steps', '1000000', ...extra, '--out', dir], {
    env,
    cwd: TMP,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  trainers.push(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exited };
}

async function waitFor(what: string, ok: () => boolean, ms = 90_000): Promise<void> {
  for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
  }
}

test('e2e: a second trainer of a run folder in use, new or resuming, gets one line and exit 2; the first is unharmed', async () => {
  const dir = newDir();
  const a = longTrainer(dir, ['--checkpoint-every', '5']);
  await waitFor("the first trainer's first checkpoint", () => fs.existsSync(path.join(dir, 'state.json')));
  for (const args of [
    ['train', 'vae', ...TINY, '--steps', '4'],
    ['train', '--resume', '--stop-at', '1000', '--backend', 'auto', '--quiet'],
  ]) {
    const b = await runCli([...args, '--out', dir], { cwd: TMP });
    assert.equal(b.code, 2, b.stderr);
    assert.match(
      b.stderr,
      new RegExp(
        `^deepgen: error: run folder ${dir} in use by pid ${a.child.pid} \\(deepgen train since [^)]+\\); wait for it to finish or stop it, or choose another --out\\n$`,
      ),
    );
  }
  a.child.kill('SIGINT'); // saves a checkpoint and stops
  const r = await a.exited;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false, 'released at exit');
  assert.ok(loadCheckpoint(dir).state.step > 0, 'the first trainer saved its checkpoint');
});

test('e2e: the lock of a SIGKILLed trainer is stale: --resume takes it over with a warning and releases it', async () => {
  const dir = newDir();
  const a = longTrainer(dir, ['--checkpoint-every', '5']);
  await waitFor('a checkpoint', () => fs.existsSync(path.join(dir, 'state.json')));
  a.child.kill('SIGKILL');
  assert.equal((await a.exited).signal, 'SIGKILL');
  assert.equal(lockOf(dir).pid, a.child.pid, 'the killed trainer left its lock');
  const step = loadCheckpoint(dir).state.step;
  const r = await runCli(
    ['train', '--resume', '--out', dir, '--stop-at', String(step + 2), '--backend', 'auto', '--quiet'],
    { cwd: TMP },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `^deepgen: warning: run folder ${dir} was locked by pid ${a.child.pid} \\(deepgen train since [^)]+\\), which is no longer running; taking over the lock$`,
      'm',
    ),
  );
  assert.match(r.stderr, new RegExp(`Resuming vae from step ${step} `));
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);
  assert.equal(loadCheckpoint(dir).state.step, step + 2);
});
