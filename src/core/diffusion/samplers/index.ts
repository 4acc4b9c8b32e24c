// Every diffusion sampler by name. The diffusion config's `sampler` enum, the CLI's --sampler choices and the
// playground's menu are read from these keys: adding a sampler is one file here and one line below.
import { UserError } from '../../errors.ts';
import { ddim } from './ddim.ts';
import { ddpm } from './ddpm.ts';
import { dpmSolver2m } from './dpm-solver.ts';
import type { Sampler } from './sampler.ts';

export type { Sampler, SamplerState, StepInput } from './sampler.ts';

/** The samplers by name; the first is listed first in menus. */
export const samplers = {
  ddim,
  ddpm,
  'dpm++2m': dpmSolver2m,
} satisfies Record<string, Sampler<any>>;

/** A sampler's name: 'ddim' | 'ddpm' | 'dpm++2m'. */
export type SamplerName = keyof typeof samplers;

/** The registry's names, in order (read when called, so a sampler added to `samplers` at run time is listed too). */
export function samplerNames(): [SamplerName, ...SamplerName[]] {
  return Object.keys(samplers) as [SamplerName, ...SamplerName[]];
}

/** The sampler called `name`, or a UserError listing the available ones. */
export function getSampler(name: string): Sampler {
  // own keys only: "toString" is in every object, not a sampler
  if (!Object.hasOwn(samplers, name))
    throw new UserError(`unknown sampler ${JSON.stringify(name)}; use one of: ${samplerNames().join(', ')}`);
  return samplers[name as SamplerName] as Sampler;
}
