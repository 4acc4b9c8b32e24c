// Every model family by name; the CLI, contract tests and docs read this list.
import type { Family } from './family.ts';
import { aeFamily, vaeFamily } from './families/vae/index.ts';
import { diffusionFamily } from './families/diffusion/index.ts';
import { pixelcnnFamily } from './families/pixelcnn/index.ts';
import { igptFamily } from './families/igpt/index.ts';
import { flowFamily } from './families/flow/index.ts';
import { ganFamily } from './families/gan/index.ts';
import { oneshotFamily } from './families/oneshot/index.ts';
import { UserError } from './errors.ts';

/** Every model family by name. */
export const registry = {
  vae: vaeFamily,
  ae: aeFamily,
  diffusion: diffusionFamily,
  pixelcnn: pixelcnnFamily,
  igpt: igptFamily,
  flow: flowFamily,
  gan: ganFamily,
  oneshot: oneshotFamily,
} satisfies Record<string, Family<any>>;

/** The name of a model family: 'vae', 'ae', 'diffusion', 'pixelcnn', 'igpt', 'flow', 'gan', 'oneshot'. */
export type FamilyName = keyof typeof registry;

/** The family of a name; a one-line UserError listing the families for an unknown one. */
export function getFamily(name: string): Family<unknown> {
  // own keys only: "toString" or "__proto__" are in every object, not families
  if (!Object.hasOwn(registry, name))
    throw new UserError(`Unknown model family ${JSON.stringify(name)}; available: ${Object.keys(registry).join(', ')}`);
  return registry[name as FamilyName] as unknown as Family<unknown>;
}

/** A family's name and one-line summary. */
export interface FamilySummary {
  name: FamilyName;
  summary: string;
}

/** Every family's name and summary, in registry order. */
export function familyList(): FamilySummary[] {
  return (Object.keys(registry) as FamilyName[]).map((name) => ({ name, summary: registry[name].summary }));
}
