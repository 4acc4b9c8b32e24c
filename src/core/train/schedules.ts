// Learning-rate schedules as pure functions of the step: linear warmup, then constant, cosine or linear decay to 0.

export type LrSchedule = 'constant' | 'cosine' | 'linear';

export function learningRate(step: number, total: number, base: number, schedule: LrSchedule, warmup: number): number {
  if (warmup > 0 && step < warmup) return (base * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const p = Math.min(1, Math.max(0, (step - warmup) / span));
  if (schedule === 'cosine') return base * 0.5 * (1 + Math.cos(Math.PI * p));
  if (schedule === 'linear') return base * (1 - p);
  return base;
}
