// Interop with the reference Python safetensors package: Python reads our files and we read its files.
// Skipped unless /usr/bin/python3 can import safetensors.numpy (Debian bookworm does not package it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';

const PYTHON = '/usr/bin/python3';
const available = fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import safetensors.numpy, numpy'], { stdio: 'ignore' }).status === 0;
const skip = available ? false : `${PYTHON} cannot import safetensors.numpy`;

test('Python safetensors reads a file written by encodeSafetensors', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-py-'));
  const file = path.join(dir, 'ours.safetensors');
  fs.writeFileSync(
    file,
    encodeSafetensors(
      {
        'enc.w': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 3, 4, 5, 6.25]) },
        'enc.n': { dtype: 'I32', shape: [2], data: new Int32Array([-7, 2147483647]) },
        px: { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) },
        s: { dtype: 'F32', shape: [], data: new Float32Array([9]) },
      },
      { step: '5' },
    ),
  );
  const script = `
import json, sys
from safetensors import safe_open
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="np") as f:
    meta = f.metadata()
print(json.dumps({"meta": meta, "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.reshape(-1).tolist()} for k, v in t.items()}}))
`;
  const out = JSON.parse(execFileSync(PYTHON, ['-c', script, file], { encoding: 'utf8' }));
  assert.deepEqual(out.meta, { step: '5' });
  assert.deepEqual(out.tensors['enc.w'], { dtype: 'float32', shape: [2, 3], values: [1.5, -2, 3, 4, 5, 6.25] });
  assert.deepEqual(out.tensors['enc.n'], { dtype: 'int32', shape: [2], values: [-7, 2147483647] });
  assert.deepEqual(out.tensors.px, { dtype: 'uint8', shape: [3], values: [0, 128, 255] });
  assert.deepEqual(out.tensors.s, { dtype: 'float32', shape: [], values: [9] });
});

test('decodeSafetensors reads a file written by Python save_file, byte-identical on re-encode', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-py-'));
  const file = path.join(dir, 'theirs.safetensors');
  const script = `
import sys, numpy as np
from safetensors.numpy import save_file
save_file({
  "a.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
  "b": np.array([-3, 5], dtype=np.int32),
  "c": np.array([1, 2, 250], dtype=np.uint8),
  "d": np.array([0.5], dtype=np.float64),
  "z": np.zeros((0, 2), dtype=np.float32),
}, sys.argv[1], metadata={"format": "np"})
`;
  execFileSync(PYTHON, ['-c', script, file]);
  const bytes = new Uint8Array(fs.readFileSync(file));
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  assert.deepEqual(metadata, { format: 'np' });
  assert.deepEqual(tensors['a.weight'].shape, [2, 3]);
  assert.deepEqual(Array.from(tensors['a.weight'].data as Float32Array), [0, 0.25, 0.5, 0.75, 1, 1.25]);
  assert.deepEqual(Array.from(tensors.b.data as Int32Array), [-3, 5]);
  assert.deepEqual(Array.from(tensors.c.data as Uint8Array), [1, 2, 250]);
  assert.deepEqual(Array.from(tensors.d.data as Float64Array), [0.5]);
  assert.deepEqual(tensors.z.shape, [0, 2]);
  // Same ordering and padding rules as the reference writer: identical bytes.
  assert.deepEqual(encodeSafetensors(tensors, metadata), bytes);
});
