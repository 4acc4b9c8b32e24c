// The typed result of a model's test-set evaluation: the likelihood figure (exact or a bound, in nats and bits/dim),
// the other bounds computed beside it, and the family's own terms. Callers (CLI, leaderboard, API) read these fields
// and never branch on a family's name or its keys.
import type { GenerativeModel } from '../family.ts';
import { natsToBitsPerDim } from '../math/units.ts';

/** Whether a figure is the model's exact -log p(x) or an upper bound on it. */
export type LikelihoodKind = 'exact' | 'bound';

/** One figure of -log p(x): mean nats per image and bits per dimension. */
export interface LikelihoodFigure {
  /** Mean -log p(x) in nats per image (or the bound on it). */
  nats: number;
  /** nats / (D ln 2), D = H * W * C. */
  bitsPerDim: number;
  kind: LikelihoodKind;
  /** What the figure is, for tables: 'exact', '-ELBO', 'IWAE k=500', 'VLB', 'dequantization', ... */
  name: string;
  /**
   * True when the figure is -log P of the 8-bit pixel values (or a bound on it), comparable between models in
   * bits/dim; false for a density of continuous or binarized values (a VAE's bernoulli or gaussian decoder).
   */
  discrete: boolean;
  /** Importance samples k of an importance-weighted bound. */
  samples?: number;
}

/** A model's test-set evaluation. */
export interface EvalResult {
  /** Images evaluated. */
  n: number;
  /** The tightest figure of -log p(x) computed; absent when the model has no likelihood (AE, one-shot). */
  likelihood?: LikelihoodFigure;
  /** The looser figures computed beside it (a VAE's -ELBO when the IWAE bound is the likelihood). */
  bounds?: LikelihoodFigure[];
  /** The family's other figures by name, per image unless named otherwise (recon, kl, denoisingMse, ...). */
  terms: Record<string, number>;
  /** With EvalOptions.perImage: the likelihood figure's nats of each image, in order (its mean is likelihood.nats). */
  perImage?: Float64Array;
}

/** A likelihood figure from mean nats per image over D dimensions. */
export function likelihoodFigure(
  nats: number,
  dims: number,
  kind: LikelihoodKind,
  name: string,
  o: { discrete?: boolean; samples?: number } = {},
): LikelihoodFigure {
  const f: LikelihoodFigure = {
    nats,
    bitsPerDim: natsToBitsPerDim(nats, dims),
    kind,
    name,
    discrete: o.discrete ?? true,
  };
  if (o.samples !== undefined) f.samples = o.samples;
  return f;
}

/** Every likelihood figure of a result, tightest first. */
export function allFigures(r: EvalResult): LikelihoodFigure[] {
  return [...(r.likelihood ? [r.likelihood] : []), ...(r.bounds ?? [])];
}

/** Per-image values collected as an evaluation goes, only when asked for (they are not written to eval.json). */
export class PerImageNats {
  private readonly parts: number[] = [];
  constructor(readonly wanted: boolean | undefined) {}
  /** Appends the values of one chunk (nats of each of its images). */
  push(values: ArrayLike<number>): void {
    if (this.wanted) for (let i = 0; i < values.length; i++) this.parts.push(values[i]);
  }
  /** The collected values, or undefined when not wanted. */
  result(): Float64Array | undefined {
    return this.wanted ? Float64Array.from(this.parts) : undefined;
  }
}

/** A result with its per-image values, when collected. */
export function withPerImage(r: EvalResult, per: PerImageNats): EvalResult {
  const v = per.result();
  if (v) r.perImage = v;
  return r;
}

/** What a model's evaluate reports, learned without data: evaluate over zero batches returns the same fields. */
export interface EvalCapabilities {
  /** evaluate exists (test-set figures of some kind). */
  evaluates: boolean;
  /** The likelihood figure it gives (n/a numbers), or null when it has none (AE, one-shot, GAN). */
  likelihood: Omit<LikelihoodFigure, 'nats' | 'bitsPerDim'> | null;
  /** Whether it computes an importance-weighted bound when given importance samples (EvalOptions.iwaeK). */
  importanceSamples: boolean;
}

/** The figures a model's evaluate gives, from a call over zero batches (no tensors, no work). */
export function evalCapabilities(model: Pick<GenerativeModel, 'evaluate'>): EvalCapabilities {
  if (!model.evaluate) return { evaluates: false, likelihood: null, importanceSamples: false };
  const l = model.evaluate([], { iwaeK: 0, seed: 0 }).likelihood;
  return {
    evaluates: true,
    likelihood: l ? { kind: l.kind, name: l.name, discrete: l.discrete } : null,
    importanceSamples: allFigures(model.evaluate([], { iwaeK: 1, seed: 0 })).some((f) => f.samples !== undefined),
  };
}

/** One line for logs: "-log p(x) 812.3 nats, 1.4942 bits/dim (-ELBO bound), recon 790.1, kl 22.2". */
export function evalSummary(r: EvalResult): string {
  const f = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));
  const l = r.likelihood;
  const head = l
    ? [
        `-log p(x) ${f(l.nats)} nats, ${l.bitsPerDim.toFixed(4)} bits/dim (${l.kind === 'exact' ? 'exact' : `${l.name} bound`})`,
      ]
    : [];
  return [...head, ...Object.entries(r.terms).map(([k, v]) => `${k} ${f(v)}`)].join(', ');
}
