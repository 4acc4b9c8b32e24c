// A model rebuilt from a checkpoint's contents, platform-free: the CLI (from a run folder) and the browser playground
// (from fetched files) both go through here, so the same checkpoint and seed give the same samples in both.
import { resolveRunConfig, type ResolvedRunConfig } from '../config/run-config.ts';
import type { DataInfo, GenerativeModel } from '../family.ts';
import { getFamily } from '../registry.ts';
import { mixSeed } from '../tensor/rng.ts';
import { emaVarsOf } from '../train/model-step.ts';
import { parseDataInfo } from './data-info.ts';
import { assignRecords, type CheckpointConfigFile } from './format.ts';
import type { TensorRecord } from './safetensors.ts';

export interface ModelFromCheckpoint {
  cfg: ResolvedRunConfig;
  info: DataInfo;
  model: GenerativeModel;
  usedEma: boolean;
}

/** The resolved run config and the data shape of a config.json, both validated, before any model is built. */
export function resolveCheckpointConfig(
  config: CheckpointConfigFile,
  where: string,
): { cfg: ResolvedRunConfig; info: DataInfo } {
  const source = `config.json in ${where}`;
  const cfg = resolveRunConfig(config.family, [config.config as Record<string, unknown>], [], source);
  return { cfg, info: parseDataInfo(config.dataInfo, source) };
}

/**
 * The model of config.json with the weights of model.safetensors, and the EMA weights over them when given and wanted.
 * `where` names the checkpoint in messages (a folder, or a run id in the browser).
 */
export function modelFromCheckpoint(
  config: CheckpointConfigFile,
  weights: Record<string, TensorRecord>,
  ema: Record<string, TensorRecord> | undefined,
  where: string,
  useEma = true,
): ModelFromCheckpoint {
  const { cfg, info } = resolveCheckpointConfig(config, where);
  const model = getFamily(cfg.family).create(cfg.model, info, mixSeed(cfg.train.seed, 1));
  const usedEma = useEma && !!ema;
  try {
    assignRecords(model.params.all(), weights, `model.safetensors in ${where}`);
    if (usedEma) assignRecords(emaVarsOf(model), ema!, `ema.safetensors in ${where}`);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { cfg, info, model, usedEma };
}
