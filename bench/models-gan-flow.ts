// Bench models: DCGAN 28x28 and a RealNVP-style MLP flow, written standalone with tfjs ops.
import type { BenchEntry } from './run.ts';

export const entries: BenchEntry[] = [];
