// Bench models: a DDPM UNet (and DDIM sampling) and a PixelCNN (and sampling), written standalone with tfjs ops.
import type { BenchEntry } from './run.ts';

export const entries: BenchEntry[] = [];
