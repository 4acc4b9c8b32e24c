// Tiny trained checkpoints of every family for the playground's end-to-end test: each family's tinyPreset trained for
// a few steps on 16x16 shapes (seconds each), plus a text-conditional diffusion model and a
// deliberately damaged checkpoint. Written into a temp folder; nothing is downloaded.
import fs from 'node:fs';
import path from 'node:path';
import type { FamilyName } from '../../src/core/registry.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

export interface Fixture {
  /** The run folder's name, which `deepgen serve` uses as its id. */
  id: string;
  family: FamilyName;
  model?: Record<string, unknown>;
  /** Samples the test draws (small for the slow sequential samplers). */
  n: number;
}

export const FIXTURES: Fixture[] = [
  { id: 'vae', family: 'vae', n: 16 },
  { id: 'ae', family: 'ae', model: { latent: 2 }, n: 16 }, // a 2-d code: the view's plane to pick z with the mouse
  { id: 'pixelcnn', family: 'pixelcnn', n: 2 },
  { id: 'igpt', family: 'igpt', n: 2 },
  { id: 'flow', family: 'flow', n: 16 },
  { id: 'gan', family: 'gan', n: 16 },
  { id: 'diffusion-text', family: 'diffusion', model: { cond: { kind: 'text' } }, n: 4 },
  { id: 'oneshot-text', family: 'oneshot', model: { cond: { kind: 'text' } }, n: 4 },
];

/** Trains every fixture into root/ID (fastest backend, 4 steps) and writes root/broken: a checkpoint with cut-off weights. */
export async function makeFixtures(root: string): Promise<void> {
  for (const f of FIXTURES) await trainTinyRun(f.family, path.join(root, f.id), { model: f.model });
  const broken = path.join(root, 'broken');
  fs.cpSync(path.join(root, 'vae'), broken, { recursive: true });
  const weights = path.join(broken, 'model.safetensors');
  fs.writeFileSync(weights, fs.readFileSync(weights).subarray(0, 200));
}
