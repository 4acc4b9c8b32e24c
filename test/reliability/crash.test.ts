// Crash safety of checkpoint saves (issue 19, item 2), SQLite-style: crash a save at every file-changing call, resume,
// crash the resumed run's first save at every call, and check each time that the run folder loads at the last completed
// save (or the one being written, once it is committed), whole: every tensor and JSON file from that one save.
// Real crashes are SIGKILLs from the fs-crash preload in bundled child processes; the full grid of double crashes is
// also walked in-process from snapshots of the folder taken before each call. fsync is a no-op in this process (not in
// the children): it decides what survives a power cut, which no SIGKILL or snapshot shows, and costs ~10 ms a call
// here; the last test checks that the saves fsync what they must, in order. The folders are in RAM where there is
// one (/dev/shm): a save's dozen renames and links take ~20 ms on this disk, ~1 ms there.
import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../src/core/errors.ts';
import { checkpointFileMetadata, type Checkpoint } from '../../src/core/checkpoint/format.ts';
import { encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import {
  hasCheckpoint,
  loadCheckpoint,
  readCheckpointConfig,
  saveCheckpoint,
} from '../../src/node/checkpoint-store.ts';
import { bundleForNode } from '../helpers/bundle.ts';
import { copyTree, ramTmpDir, snapshotBeforeEachCall } from '../helpers/fs-crash.ts';
import { tinyCheckpoint } from '../helpers/tiny-checkpoint.ts';

const TMP = ramTmpDir('deepgen-crash-');
let INJECTOR = '';
let DRIVER = '';
before(() => {
  mock.method(fs, 'fsyncSync', () => {});
  INJECTOR = bundleForNode(
    path.join(import.meta.dirname, '../helpers/fs-crash.ts'),
    path.join(TMP, 'bin', 'fs-crash.mjs'),
  );
  DRIVER = bundleForNode(path.join(import.meta.dirname, 'crash-driver.ts'), path.join(TMP, 'bin', 'crash-driver.mjs'));
});
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** Saves alternate with and without ema.safetensors, so the windows where an optional file is added or removed are crossed. */
const withEma = (step: number) => step % 200 === 100;
const ck = (step: number) => tinyCheckpoint(step, { ema: withEma(step) });
const saveOp = (step: number) => `save:${step}${withEma(step) ? ':ema' : ''}`;

let fresh = 0;
function newDir(from?: string): string {
  const dir = path.join(TMP, `run-${++fresh}`);
  if (from) copyTree(from, dir);
  return dir;
}

/** Loads `dir` and checks it is one whole save among `allowed`; config.json on top must be that save's too. */
function loadsWhole(dir: string, allowed: number[], where: string): number {
  let got;
  try {
    got = loadCheckpoint(dir, { warn: () => {} });
  } catch (e) {
    assert.fail(
      `${where}: the run folder does not load (${(e as Error).message}); expected step ${allowed.join(' or ')}`,
    );
  }
  const step = got.state.step;
  assert.ok(allowed.includes(step), `${where}: loaded step ${step}, expected ${allowed.join(' or ')}`);
  assert.deepEqual(got, ck(step), `${where}: the checkpoint of step ${step} is not whole`);
  assert.deepEqual(readCheckpointConfig(dir), got.config, `${where}: config.json on top is not the loaded save's`);
  return step;
}

/** What a folder holds after a completed save: the checkpoint files only (no temps, no backup). */
function assertClean(dir: string, step: number, where: string): void {
  const files = [
    'config.json',
    'model.safetensors',
    'optimizer.safetensors',
    'state.json',
    ...(withEma(step) ? ['ema.safetensors'] : []),
  ];
  assert.deepEqual(fs.readdirSync(dir).sort(), files.sort(), `${where}: leftovers after a completed save`);
}

interface Child {
  killed: boolean;
  lines: Record<string, number>[];
  stderr: string;
}

/** The driver in a child process, SIGKILLed at its `at`-th file-changing call under `dir`. */
function crashChild(dir: string, at: number, ops: string[]): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, DEEPGEN_CRASH_DIR: dir, DEEPGEN_CRASH_AT: String(at) };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--import', INJECTOR, DRIVER, dir, ...ops], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const killed = r.signal === 'SIGKILL';
  assert.ok(
    killed || r.status === 0,
    `driver ${ops.join(' ')} at call ${at}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}`,
  );
  return {
    killed,
    lines: r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
    stderr: r.stderr,
  };
}

test("SIGKILL at every call of a save, then at every call of the resumed run's first save: the folder always loads whole", () => {
  const base = newDir();
  saveCheckpoint(base, ck(100));
  const afterFirstCrash: { k: number; dir: string; step: number; fellBack: boolean }[] = [];
  for (let k = 1; ; k++) {
    const dir = newDir(base);
    const c = crashChild(dir, k, [saveOp(200)]);
    const where = `save 200 killed at call ${k} (${c.stderr.trim()})`;
    const warned: string[] = [];
    loadCheckpoint(dir, { warn: (l) => warned.push(l) });
    const step = loadsWhole(dir, c.killed ? [100, 200] : [200], where);
    afterFirstCrash.push({ k, dir, step, fellBack: warned.length > 0 });
    if (!c.killed) {
      assertClean(dir, 200, 'save 200 not killed');
      break;
    }
  }
  assert.ok(afterFirstCrash.length > 10, `a save makes ${afterFirstCrash.length - 1} file-changing calls`);
  // The resumed run's first save is swept in full after crashes that left the top level mixed (the double crash:
  // the load fell back to the backup); after the others the folder is as after a completed save, swept above.
  const mixed = afterFirstCrash.filter((s) => s.fellBack);
  assert.ok(mixed.length > 0, 'some crash leaves the top-level files mixed (the load falls back to the backup)');
  const picks = [...new Set([mixed[0], mixed[Math.floor(mixed.length / 2)], mixed[mixed.length - 1]])];
  for (const s of picks) {
    for (let j = 1; ; j++) {
      const dir = newDir(s.dir);
      const c = crashChild(dir, j, ['load', saveOp(300)]);
      const where = `save 200 killed at call ${s.k}, resumed from step ${s.step}, save 300 killed at call ${j} (${c.stderr.trim()})`;
      assert.equal(c.lines[0]?.loaded, s.step, `${where}: the resume loaded another step`);
      loadsWhole(dir, c.killed ? [s.step, 300] : [300], where);
      // and the next start recovers: a save completes and leaves only the checkpoint
      saveCheckpoint(dir, ck(400));
      loadsWhole(dir, [400], `${where}, then save 400`);
      assertClean(dir, 400, `${where}, then save 400`);
      if (!c.killed) break;
    }
  }
});

/** A checkpoint folder as deepgen wrote it before save ids: what runs users already have look like. */
function saveAsShipped(dir: string, c: Checkpoint): void {
  fs.mkdirSync(dir, { recursive: true });
  const meta = checkpointFileMetadata(c.state.step, c.config.family);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c.config, null, 2));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(c.weights, meta));
  if (c.optimizer) fs.writeFileSync(path.join(dir, 'optimizer.safetensors'), encodeSafetensors(c.optimizer, meta));
  if (c.ema) fs.writeFileSync(path.join(dir, 'ema.safetensors'), encodeSafetensors(c.ema, meta));
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(c.state, null, 2));
}

test('every pair of crash points (save, resumed save), walked in-process from folder snapshots, from a folder as shipped', () => {
  const base = newDir();
  saveAsShipped(base, ck(100));
  loadsWhole(base, [100], 'a folder as shipped');
  const snaps1 = newDir();
  const final1 = newDir(base);
  const calls1 = snapshotBeforeEachCall(final1, snaps1, () => saveCheckpoint(final1, ck(200)));
  const states1 = [
    ...calls1.map((c, i) => ({
      dir: path.join(snaps1, String(i + 1)),
      where: `save 200 crashed at call ${i + 1} (${c})`,
      allowed: [100, 200],
    })),
    { dir: final1, where: 'save 200 completed', allowed: [200] },
  ];
  let pairs = 0;
  for (const s1 of states1) {
    const resumed = loadsWhole(s1.dir, s1.allowed, s1.where);
    const snaps2 = newDir();
    const final2 = newDir(s1.dir);
    const calls2 = snapshotBeforeEachCall(final2, snaps2, () => saveCheckpoint(final2, ck(300)));
    for (const [j, c] of calls2.entries()) {
      const where = `${s1.where}, resumed at step ${resumed}, save 300 crashed at call ${j + 1} (${c})`;
      const dir = path.join(snaps2, String(j + 1));
      loadsWhole(dir, [resumed, 300], where);
      saveCheckpoint(dir, ck(400));
      loadsWhole(dir, [400], `${where}, then save 400`);
      pairs++;
    }
    loadsWhole(final2, [300], `${s1.where}, then save 300 completed`);
    assertClean(final2, 300, `${s1.where}, then save 300 completed`);
    fs.rmSync(snaps2, { recursive: true });
  }
  assert.ok(pairs > 100, `${pairs} crash pairs`);
});

test('a crash during the first save leaves a whole checkpoint or none, so a new run can start there', () => {
  const snaps = newDir();
  const dir = newDir();
  const calls = snapshotBeforeEachCall(dir, snaps, () => saveCheckpoint(dir, ck(100)));
  for (const [k, c] of calls.entries()) {
    const snap = path.join(snaps, String(k + 1));
    const where = `first save crashed at call ${k + 1} (${c})`;
    if (hasCheckpoint(snap)) loadsWhole(snap, [100], where);
    else {
      assert.throws(
        () => loadCheckpoint(snap),
        (e) => e instanceof UserError && /^No checkpoint at .*config\.json not found/.test(e.message),
        where,
      );
      saveCheckpoint(snap, ck(300));
      loadsWhole(snap, [300], `${where}, then a new run's save`);
      assertClean(snap, 300, `${where}, then a new run's save`);
    }
  }
});

test('a save makes its backup and its new files durable before it changes the top level, and fsyncs the folder before dropping the backup', () => {
  const dir = newDir();
  saveCheckpoint(dir, ck(100));
  saveCheckpoint(dir, ck(200)); // the first save has no backup to make; the second does
  const trace: { op: string; p: string }[] = [];
  const fdPath = new Map<number, string>();
  const open = fs.openSync;
  const spies = [
    mock.method(fs, 'openSync', (...a: Parameters<typeof fs.openSync>) => {
      const fd = open(...a);
      fdPath.set(fd, path.resolve(String(a[0])));
      return fd;
    }),
    mock.method(fs, 'fsyncSync', (fd: number) => trace.push({ op: 'fsync', p: fdPath.get(fd)! })),
    ...(['renameSync', 'linkSync'] as const).map((k) => {
      const orig = fs[k] as (a: fs.PathLike, b: fs.PathLike) => void;
      return mock.method(
        fs,
        k,
        (a: fs.PathLike, b: fs.PathLike) => (trace.push({ op: k, p: path.resolve(String(b)) }), orig(a, b)),
      );
    }),
    ...(['unlinkSync', 'rmSync', 'rmdirSync'] as const).map((k) => {
      const orig = fs[k] as (a: fs.PathLike, o?: unknown) => void;
      return mock.method(
        fs,
        k,
        (a: fs.PathLike, o?: unknown) => (trace.push({ op: k, p: path.resolve(String(a)) }), orig(a, o)),
      );
    }),
  ];
  try {
    saveCheckpoint(dir, ck(300));
  } finally {
    for (const s of spies) s.mock.restore();
  }
  const top = new Set(
    ['config.json', 'model.safetensors', 'optimizer.safetensors', 'ema.safetensors', 'state.json'].map((f) =>
      path.join(dir, f),
    ),
  );
  const firstTopChange = trace.findIndex((t) => top.has(t.p) && t.op !== 'linkSync');
  assert.ok(firstTopChange > 0, 'the save changes the top-level files');
  // every folder that got a link or a rename before the top level changed was fsynced after its last such change
  const synced = (folder: string, from: number, to: number) =>
    trace.slice(from, to).some((t) => t.op === 'fsync' && t.p === folder);
  for (const [i, t] of trace.slice(0, firstTopChange).entries()) {
    if (t.op === 'linkSync' || t.op === 'renameSync')
      assert.ok(
        synced(path.dirname(t.p), i + 1, firstTopChange),
        `${t.op} into ${t.p} not made durable (folder fsync) before the top level changed`,
      );
  }
  // the renames into the top level are durable (run folder fsynced) before anything of the backup is removed
  const lastTopRename = trace.map((t) => top.has(t.p) && t.op === 'renameSync').lastIndexOf(true);
  const firstBackupRemoval = trace.findIndex(
    (t, i) => i > lastTopRename && t.op !== 'fsync' && t.op !== 'renameSync' && !top.has(t.p),
  );
  assert.ok(firstBackupRemoval > lastTopRename, 'the backup is removed after the save');
  assert.ok(
    synced(path.resolve(dir), lastTopRename + 1, firstBackupRemoval),
    'the run folder is not fsynced between the last rename and the removal of the backup',
  );
});
