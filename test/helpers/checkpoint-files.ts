// Reading and damaging the files of a checkpoint folder in tests. Edits keep each file's metadata (its step), so the
// only thing wrong with the folder is the change under test.
import fs from 'node:fs';
import path from 'node:path';
import {
  decodeSafetensors,
  encodeSafetensors,
  recordToFloat32,
  type TensorRecord,
} from '../../src/core/checkpoint/safetensors.ts';

/** A safetensors file's tensors as float32. */
export function readFloats(file: string): Record<string, { shape: number[]; data: Float32Array }> {
  const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  return Object.fromEntries(Object.entries(tensors).map(([k, r]) => [k, { shape: r.shape, data: recordToFloat32(r) }]));
}

/** Rewrites a safetensors file with `edit` applied to its tensors (changed in place). */
export function editTensors(file: string, edit: (tensors: Record<string, TensorRecord>) => void): void {
  const { tensors, metadata } = decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  edit(tensors);
  fs.writeFileSync(file, encodeSafetensors(tensors, metadata));
}

/** Rewrites DIR/state.json with `edit` applied. */
export function editState(dir: string, edit: (state: Record<string, unknown>) => void): void {
  const file = path.join(dir, 'state.json');
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(state);
  fs.writeFileSync(file, JSON.stringify(state, null, 2) + '\n');
}
