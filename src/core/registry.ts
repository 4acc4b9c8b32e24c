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

export type FamilyName = keyof typeof registry;

export function getFamily(name: string): Family<unknown> {
  // own keys only: "toString" or "__proto__" are in every object, not families
  if (!Object.hasOwn(registry, name)) throw new UserError(`Unknown model family ${JSON.stringify(name)}; available: ${Object.keys(registry).join(', ')}`);
  return registry[name as FamilyName] as unknown as Family<unknown>;
}
