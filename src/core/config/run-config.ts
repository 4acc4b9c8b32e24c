// Resolving a run's config, platform-free: family defaults < config layers < --set overrides, validated strictly.
// The node side (src/node/run-config.ts) adds reading a --config file; the browser resolves a checkpoint's config here.
import { z } from 'zod';
import { dataSchema, formatZodError, trainSchema, type DataConfig, type TrainConfig } from './schema.ts';
import { applySets, checkConfigKeys, deepMerge, isPlainObject, type PlainObject } from './overrides.ts';
import { preview, UserError } from '../errors.ts';
import { getFamily } from '../registry.ts';
import { requiredPreprocessOf } from '../family.ts';

export interface ResolvedRunConfig {
  family: string;
  model: Record<string, unknown>;
  data: DataConfig;
  train: TrainConfig;
}

/** Whether config layers or --set strings choose data.preprocess themselves (then no default replaces it). */
export function choosesPreprocess(layers: readonly (PlainObject | undefined)[], sets: readonly string[]): boolean {
  return (
    layers.some((l) => (l?.data as PlainObject | undefined)?.preprocess !== undefined) ||
    sets.some((s) => s.trim().startsWith('data.preprocess'))
  );
}

/** Resolve a full run config for `family` from layered plain objects and --set strings. */
export function resolveRunConfig(
  family: string,
  layers: PlainObject[],
  sets: string[],
  source = 'flags',
): ResolvedRunConfig {
  const fam = getFamily(family);
  // copies: --set writes into the merged sections, which must be neither the family's defaults nor the caller's layers
  let merged: PlainObject = structuredClone({
    family,
    model: fam.defaults.model,
    data: fam.defaults.data,
    train: fam.defaults.train,
  });
  for (const l of layers) {
    if (!isPlainObject(l))
      throw new UserError(
        `Invalid config (${source}): expected a JSON object with sections model, data, train, got ${l === null ? 'null' : Array.isArray(l) ? 'an array' : typeof l}`,
      );
    checkConfigKeys(l, source);
    merged = deepMerge(merged, structuredClone(l));
  }
  merged = applySets(merged, sets);
  if (merged.family !== family)
    throw new UserError(`Config says family ${preview(merged.family)} but the command trains "${family}"`);
  // a model that needs one preprocessing (e.g. the VAE's logistic decoder) gets it unless the user chose one
  if (!choosesPreprocess(layers, sets) && typeof fam.requiredPreprocess === 'function') {
    const m = fam.modelSchema.safeParse(merged.model);
    const required = m.success ? requiredPreprocessOf(fam, m.data) : undefined;
    if (required) merged = deepMerge(merged, { data: { preprocess: required } });
  }
  const schema = z
    .object({ family: z.string(), model: fam.modelSchema, data: dataSchema, train: trainSchema })
    .strict();
  const r = schema.safeParse(merged);
  if (!r.success) throw new UserError(formatZodError(r.error, source));
  return r.data as ResolvedRunConfig;
}

/** The config with data.dataDir replaced, for commands that read a run's data from another folder. */
export function withDataDir(cfg: ResolvedRunConfig, dataDir: string | undefined): ResolvedRunConfig {
  return dataDir ? { ...cfg, data: { ...cfg.data, dataDir } } : cfg;
}
