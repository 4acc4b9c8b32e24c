// Tests for checkpoint folders on disk and atomic file writes.

import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Checkpoint } from '../../src/core/checkpoint/format.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/node/checkpoint-store.ts';
import { readFileOrUserError, writeFileAtomic } from '../../src/node/fs-atomic.ts';
import { userError } from '../helpers/assert.ts';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-ck-'));
}

function sample(step: number, withExtras = true): Checkpoint {
  return {
    config: {
      family: 'vae',
      formatVersion: 1,
      config: { latent: 2, hidden: [8] },
      createdBy: 'deepgen',
      dataInfo: { height: 28 },
    },
    weights: {
      'enc.w': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, step]) },
      'enc.b': { dtype: 'F32', shape: [3], data: new Float32Array([0.5, -0.5, 0]) },
    },
    optimizer: withExtras
      ? {
          'm.enc.w': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6).fill(0.25) },
          t: { dtype: 'I32', shape: [], data: new Int32Array([step]) },
        }
      : undefined,
    ema: withExtras ? { 'enc.w': { dtype: 'F32', shape: [2, 3], data: new Float32Array(6).fill(1) } } : undefined,
    state: { step, epoch: 2, rng: [1, 2, 3, 4000000000], bestLoss: 0.5 },
  };
}

test('save then load round-trips every part', () => {
  const dir = path.join(tmpDir(), 'run', 'nested');
  assert.equal(hasCheckpoint(dir), false);
  const ck = sample(120);
  saveCheckpoint(dir, ck);
  assert.equal(hasCheckpoint(dir), true);
  assert.deepEqual(fs.readdirSync(dir).sort(), [
    'config.json',
    'ema.safetensors',
    'model.safetensors',
    'optimizer.safetensors',
    'state.json',
  ]);
  const back = loadCheckpoint(dir);
  assert.deepEqual(back, ck);
  const meta = decodeSafetensors(fs.readFileSync(path.join(dir, 'model.safetensors'))).metadata;
  assert.equal(meta.step, '120');
  assert.equal(meta.format, 'deepgen');
});

test('saving again without optimizer/ema removes the stale files; load returns without them', () => {
  const dir = tmpDir();
  saveCheckpoint(dir, sample(1));
  saveCheckpoint(dir, sample(2, false));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'state.json']);
  const back = loadCheckpoint(dir);
  assert.equal(back.state.step, 2);
  assert.equal(back.optimizer, undefined);
  assert.equal(back.ema, undefined);
});

test('missing folder, file instead of folder, bad config, unknown formatVersion', () => {
  const root = tmpDir();
  const missing = path.join(root, 'nope');
  userError(
    () => loadCheckpoint(missing),
    new RegExp(
      `^No checkpoint at ${missing}: config\\.json not found; train one with \`deepgen train \\.\\.\\.\` or pass a run folder$`,
    ),
  );
  const file = path.join(root, 'model.safetensors');
  fs.writeFileSync(file, 'x');
  userError(() => loadCheckpoint(file), /it is a file, not a run folder/);

  const dir = path.join(root, 'run');
  saveCheckpoint(dir, sample(3));
  fs.writeFileSync(path.join(dir, 'config.json'), '{"family": "vae",');
  userError(() => loadCheckpoint(dir), /^config\.json in .*run is not valid JSON/);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...sample(3).config, formatVersion: 7 }));
  userError(() => loadCheckpoint(dir), /formatVersion 7, but this deepgen reads version 1/);
});

test('interrupted saves are detected: files from another step, or state.json missing', () => {
  const dir = tmpDir();
  saveCheckpoint(dir, sample(100));
  // Simulate a save of step 200 that died after writing the model but before state.json.
  fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(sample(200).weights, { step: '200' }));
  userError(
    () => loadCheckpoint(dir),
    /^Checkpoint in .* is inconsistent: model\.safetensors is from step 200 but state\.json is from step 100 \(a save was interrupted\)/,
  );

  saveCheckpoint(dir, sample(300));
  fs.writeFileSync(path.join(dir, 'ema.safetensors'), encodeSafetensors(sample(300).ema!, { step: '299' }));
  userError(() => loadCheckpoint(dir), /ema\.safetensors is from step 299 but state\.json is from step 300/);

  const first = tmpDir();
  saveCheckpoint(first, sample(1));
  fs.rmSync(path.join(first, 'state.json'));
  assert.equal(hasCheckpoint(first), true);
  userError(() => loadCheckpoint(first), /is incomplete: state\.json not found/);

  saveCheckpoint(first, sample(1));
  fs.writeFileSync(path.join(first, 'model.safetensors'), new Uint8Array(3));
  userError(
    () => loadCheckpoint(first),
    /^model\.safetensors in .* is not a valid safetensors file: it is 3 bytes long/,
  );
});

test('a save that dies while replacing files leaves .previous, and loading falls back to it', () => {
  const dir = tmpDir();
  saveCheckpoint(dir, sample(100));
  // Simulate phase 2 of a save of step 200 dying after the model was renamed into place.
  fs.mkdirSync(path.join(dir, '.previous'));
  for (const f of fs.readdirSync(dir))
    if (f.endsWith('.json') || f.endsWith('.safetensors'))
      fs.linkSync(path.join(dir, f), path.join(dir, '.previous', f));
  // (renamed into place as the real save does: writing through the hard link would change the backup too)
  fs.writeFileSync(path.join(dir, 'model.tmp'), encodeSafetensors(sample(200).weights, { step: '200' }));
  fs.renameSync(path.join(dir, 'model.tmp'), path.join(dir, 'model.safetensors'));
  const warnings: string[] = [];
  const ck = loadCheckpoint(dir, { warn: (l) => warnings.push(l) });
  assert.equal(ck.state.step, 100);
  assert.match(warnings[0], /previous checkpoint \(step 100\)/);
  // the next complete save clears the backup
  saveCheckpoint(dir, sample(300));
  assert.equal(fs.existsSync(path.join(dir, '.previous')), false);
  assert.equal(loadCheckpoint(dir).state.step, 300);
});

test('writeFileAtomic replaces the file and leaves no temp files', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.json');
  writeFileAtomic(file, 'one');
  writeFileAtomic(file, new Uint8Array([116, 119, 111]));
  assert.equal(fs.readFileSync(file, 'utf8'), 'two');
  assert.deepEqual(fs.readdirSync(dir), ['a.json']);
});

test('writeFileAtomic keeps the old file intact and cleans up when writing fails', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'model.safetensors');
  writeFileAtomic(file, 'good');
  const fsync = mock.method(fs, 'fsyncSync', () => {
    throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  });
  try {
    assert.throws(() => writeFileAtomic(file, 'partial'), /EIO/);
  } finally {
    fsync.mock.restore();
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'good');
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);

  // Rename onto a non-empty folder fails too: temp removed, error names the target.
  const target = path.join(dir, 'taken');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'x'), '');
  assert.throws(() => writeFileAtomic(target, 'data'));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['model.safetensors', 'taken']);
});

test('writeFileAtomic and readFileOrUserError turn path problems into UserErrors', () => {
  const dir = tmpDir();
  userError(
    () => writeFileAtomic(path.join(dir, 'no', 'such', 'f.txt'), 'x'),
    /^Cannot write .*f\.txt: no such file or folder \(ENOENT\); choose another output folder/,
  );
  userError(
    () => readFileOrUserError(path.join(dir, 'gone.png'), 'image'),
    /^Cannot read image at .*gone\.png: no such file or folder; check the path$/,
  );
  userError(() => readFileOrUserError(dir, 'image', 'pass a file'), /it is a folder; pass a file$/);
  const f = path.join(dir, 'ok.bin');
  fs.writeFileSync(f, new Uint8Array([1, 2, 3]));
  const bytes = readFileOrUserError(f, 'file');
  assert.ok(!Buffer.isBuffer(bytes));
  assert.deepEqual(Array.from(bytes), [1, 2, 3]);
});

test("temp files of killed writers are removed by the next save; a live writer's are kept", () => {
  const dir = tmpDir();
  const dead = 2 ** 30; // above any pid_max: no such process
  fs.writeFileSync(path.join(dir, `model.safetensors.tmp-${dead}-abcdef`), 'junk');
  fs.writeFileSync(path.join(dir, `eval.json.tmp-${dead}-0a1b`), 'junk');
  fs.mkdirSync(path.join(dir, `.previous.tmp-${dead}-77`));
  fs.writeFileSync(path.join(dir, `.previous.tmp-${dead}-77`, 'state.json'), '{}');
  const live = `state.json.tmp-${process.ppid}-c0ffee`; // the test runner: alive, maybe writing
  fs.writeFileSync(path.join(dir, live), 'in progress');
  fs.writeFileSync(path.join(dir, 'notes.txt.tmp'), 'not a temp name');
  saveCheckpoint(dir, sample(1, false));
  assert.deepEqual(
    fs.readdirSync(dir).sort(),
    ['config.json', 'model.safetensors', 'notes.txt.tmp', 'state.json', live].sort(),
  );
});

test('files of two saves of the same step are told apart by their save id', () => {
  const a = tmpDir();
  const b = tmpDir();
  saveCheckpoint(a, sample(5));
  const other = sample(5);
  other.weights['enc.b'].data = new Float32Array([9, 9, 9]);
  saveCheckpoint(b, other);
  // a save of b's folder that died after renaming its model: same step, another save
  fs.copyFileSync(path.join(a, 'model.safetensors'), path.join(b, 'model.safetensors'));
  userError(
    () => loadCheckpoint(b),
    /^Checkpoint in .* is inconsistent: model\.safetensors and state\.json are from different saves \(a save was interrupted\)/,
  );
  fs.copyFileSync(path.join(a, 'config.json'), path.join(a, 'config.copy'));
  saveCheckpoint(a, sample(5));
  fs.copyFileSync(path.join(a, 'config.copy'), path.join(a, 'config.json'));
  userError(() => loadCheckpoint(a), /config\.json and state\.json are from different saves/);
});
