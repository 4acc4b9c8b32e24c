// Resolving a run's config: family defaults < --config file < flags < --set overrides, validated strictly.
import fs from 'node:fs';
import { z } from 'zod';
import { dataSchema, formatZodError, trainSchema, type DataConfig, type TrainConfig } from '../core/config/schema.ts';
import { applySets, deepMerge, type PlainObject } from '../core/config/overrides.ts';
import { UserError } from '../core/errors.ts';
import { getFamily } from '../core/registry.ts';
import { requiredPreprocessOf } from '../core/family.ts';

export interface ResolvedRunConfig {
  family: string;
  model: Record<string, unknown>;
  data: DataConfig;
  train: TrainConfig;
}

export function readConfigFile(path: string): PlainObject {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`Config file ${path} not found; pass an existing JSON file to --config`);
  }
  try {
    const v = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as PlainObject;
  } catch (e) {
    throw new UserError(`Config file ${path} is not a JSON object (${(e as Error).message}); fix the file`);
  }
}

/** Whether config layers or --set strings choose data.preprocess themselves (then no default replaces it). */
export function choosesPreprocess(layers: readonly (PlainObject | undefined)[], sets: readonly string[]): boolean {
  return layers.some((l) => (l?.data as PlainObject | undefined)?.preprocess !== undefined) || sets.some((s) => s.trim().startsWith('data.preprocess'));
}

/** Resolve a full run config for `family` from layered plain objects and --set strings. */
export function resolveRunConfig(family: string, layers: PlainObject[], sets: string[], source = 'flags'): ResolvedRunConfig {
  const fam = getFamily(family);
  let merged: PlainObject = { family, model: fam.defaults.model, data: fam.defaults.data, train: fam.defaults.train };
  for (const l of layers) merged = deepMerge(merged, l);
  merged = applySets(merged, sets);
  if (merged.family !== family) throw new UserError(`Config says family "${String(merged.family)}" but the command trains "${family}"`);
  // a model that needs one preprocessing (e.g. the VAE's logistic decoder) gets it unless the user chose one
  if (!choosesPreprocess(layers, sets) && typeof fam.requiredPreprocess === 'function') {
    const m = fam.modelSchema.safeParse(merged.model);
    const required = m.success ? requiredPreprocessOf(fam, m.data) : undefined;
    if (required) merged = deepMerge(merged, { data: { preprocess: required } });
  }
  const schema = z.object({ family: z.string(), model: fam.modelSchema, data: dataSchema, train: trainSchema }).strict();
  const r = schema.safeParse(merged);
  if (!r.success) throw new UserError(formatZodError(r.error, source));
  return r.data as ResolvedRunConfig;
}

/** The config with data.dataDir replaced, for commands that read a run's data from another folder. */
export function withDataDir(cfg: ResolvedRunConfig, dataDir: string | undefined): ResolvedRunConfig {
  return dataDir ? { ...cfg, data: { ...cfg.data, dataDir } } : cfg;
}
