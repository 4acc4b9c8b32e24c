// --init (fine-tuning): a new run that starts from a trained model's weights. Reads the model (a run folder, zoo:NAME,
// an https URL or hf:OWNER/REPO), lays the new run's config over the model's, checks that the new data fits the
// network (image shape, classes, caption words) and loads the weights (the EMA ones when kept) before training starts.
import fs from 'node:fs';
import path from 'node:path';
import { assignRecords, CHECKPOINT_FILES, parseCheckpointConfig } from '../../core/checkpoint/format.ts';
import type { CheckpointConfigFile } from '../../core/checkpoint/format.ts';
import { parseDataInfo } from '../../core/checkpoint/data-info.ts';
import { decodeSafetensors, type TensorRecord } from '../../core/checkpoint/safetensors.ts';
import { condKindOf, condTokenizerOfModel } from '../../core/conditioning/config.ts';
import { isPlainObject, parseValue, type PlainObject } from '../../core/config/overrides.ts';
import { UserError } from '../../core/errors.ts';
import type { DataInfo, GenerativeModel } from '../../core/family.ts';
import { emaVarsOf } from '../../core/train/model-step.ts';
import { hasCheckpoint, loadCheckpoint } from '../checkpoint-store.ts';
import { readFileOrUserError, readTextOrUserError } from '../fs-atomic.ts';
import { resolveModelSource, type ModelSourceOptions } from '../model-source.ts';

/** A trained model to start a new run from: its config.json, its weights and where it came from. */
export interface InitModel {
  /** The spec as given (a folder, zoo:NAME, a URL, hf:…), recorded in the new run's config.json. */
  spec: string;
  /** The local folder it was read from (for remote specs: the cache's copy). */
  dir: string;
  config: CheckpointConfigFile;
  /** The data the model was built for: image shape, classes, caption vocabulary. */
  info: DataInfo;
  /** model.safetensors (F16/BF16 records are decoded when assigned). */
  weights: Record<string, TensorRecord>;
  /** ema.safetensors when the model kept one: the weights it samples with, laid over `weights`. */
  ema?: Record<string, TensorRecord>;
  /** The model's training step, when its folder records one (state.json); a model-only folder does not. */
  step?: number;
}

/** What a fine-tuned run's config.json records under "init": where its weights started. */
export interface InitRecord {
  spec: string;
  step?: number;
}

/** The "init" key of a checkpoint's config.json, when it is a well-formed record (else undefined). */
export function initRecordOf(config: CheckpointConfigFile): InitRecord | undefined {
  const v = config.init;
  if (!isPlainObject(v) || typeof v.spec !== 'string') return undefined;
  return Number.isSafeInteger(v.step) ? { spec: v.spec, step: v.step as number } : { spec: v.spec };
}

/**
 * Reads the model of an --init spec: a run folder (checked as one whole save), or a model-only folder (config.json,
 * model.safetensors, optional ema.safetensors, as the zoo and hub hold them); remote specs are downloaded first.
 */
export async function readInitModel(
  spec: string,
  source: ModelSourceOptions = {},
  warn: (line: string) => void = () => {},
): Promise<InitModel> {
  const dir = await resolveModelSource(spec, source);
  if (!hasCheckpoint(dir))
    throw new UserError(
      `--init ${spec}: no config.json in ${dir}; pass a run folder written by deepgen train or zoo:NAME`,
    );
  const file = (name: string) => path.join(dir, name);
  let read: Omit<InitModel, 'spec' | 'dir' | 'info'>;
  if (fs.existsSync(file(CHECKPOINT_FILES.state))) {
    const ck = loadCheckpoint(dir, { warn });
    read = { config: ck.config, weights: ck.weights, ema: ck.ema, step: ck.state.step };
  } else {
    const where = (name: string) => `${name} in ${dir}`;
    const bytes = (name: string) => readFileOrUserError(file(name), where(name), 'pass a complete model folder');
    const config = parseCheckpointConfig(
      readTextOrUserError(file(CHECKPOINT_FILES.config), where(CHECKPOINT_FILES.config)),
      where(CHECKPOINT_FILES.config),
    );
    const weights = decodeSafetensors(bytes(CHECKPOINT_FILES.model), where(CHECKPOINT_FILES.model)).tensors;
    const ema = fs.existsSync(file(CHECKPOINT_FILES.ema))
      ? decodeSafetensors(bytes(CHECKPOINT_FILES.ema), where(CHECKPOINT_FILES.ema)).tensors
      : undefined;
    read = { config, weights, ema };
  }
  const info = parseDataInfo(read.config.dataInfo, `${CHECKPOINT_FILES.config} in ${dir}`);
  return { spec, dir, info, ...read };
}

/** Whether the user's config layers or --set strings set `section.key`. */
function userSets(layers: readonly (PlainObject | undefined)[], sets: readonly string[], key: string): boolean {
  const [section, name] = key.split('.');
  return (
    layers.some((l) => (l?.[section] as PlainObject | undefined)?.[name] !== undefined) ||
    sets.some((s) => s.trim().startsWith(`${key}=`))
  );
}

/** The data keys of the init model's config kept when the user trains on another dataset: the network's input. */
const KEPT_DATA_KEYS = ['size', 'preprocess', 'testSeed'];

/**
 * The config layer an --init model gives the new run, to go under the user's layers (config file, flags) and --set:
 * the model's full config, except that (1) on another dataset only its size and preprocessing stay (its folder, image
 * count and held-out pairs belong to its data) and the new data is read at the model's shape (its side as data.size,
 * a folder as grey for a grey model) unless the user says otherwise, and (2) when the user gives epochs but no
 * steps, its step count goes (it would override them). `family`, when given, must be the model's.
 */
export function initConfigLayer(
  init: InitModel,
  family: string | undefined,
  user: readonly (PlainObject | undefined)[],
  sets: readonly string[],
): PlainObject {
  const initFamily = init.config.family;
  if (family !== undefined && family !== initFamily)
    throw new UserError(
      `--init ${init.spec} is a ${initFamily} model, not ${family}; drop the family (or name ${initFamily}) to fine-tune it`,
    );
  const base = structuredClone(init.config.config) as PlainObject;
  const data = (isPlainObject(base.data) ? base.data : {}) as PlainObject;
  const datasetSet = sets.filter((s) => s.trim().startsWith('data.dataset=')).at(-1);
  const newDataset =
    datasetSet !== undefined
      ? parseValue(datasetSet.trim().slice('data.dataset='.length))
      : user
          .map((l) => (l?.data as PlainObject | undefined)?.dataset)
          .filter((d) => d !== undefined)
          .at(-1);
  if (newDataset !== undefined && newDataset !== data.dataset) {
    const kept: PlainObject = Object.fromEntries(Object.entries(data).filter(([k]) => KEPT_DATA_KEYS.includes(k)));
    if (kept.size === undefined && init.info.height === init.info.width) kept.size = init.info.height;
    if (typeof newDataset === 'string' && newDataset.startsWith('folder:') && init.info.channels === 1)
      kept.channels = 1;
    base.data = kept;
  }
  if (isPlainObject(base.train) && userSets(user, sets, 'train.epochs') && !userSets(user, sets, 'train.steps'))
    base.train.steps = 0;
  return base;
}

const shapeOf = (d: { height: number; width: number; channels: number }) => `${d.height}x${d.width}x${d.channels}`;

/**
 * The data info of the new run after checking that its data fits the init model: the same image shape, the same
 * number of classes (label-conditional), and caption words the model knows (text-conditional: the token embeddings
 * are rows of the model's sorted vocabulary, so the new run keeps that vocabulary; a bpe model keeps its vocabulary
 * and merges, and takes any caption). `dataName` names the data.
 */
export function initDataInfo(
  init: InitModel,
  info: DataInfo,
  cfg: { model: unknown; data: { dataset: string } },
  dataName: string,
): DataInfo {
  const want = init.info;
  if (shapeOf(want) !== shapeOf(info)) {
    const fixes: string[] = [];
    if (want.height !== info.height || want.width !== info.width)
      fixes.push(want.height === want.width ? `--size ${want.height}` : `${want.height}x${want.width} images`);
    if (want.channels !== info.channels)
      fixes.push(
        cfg.data.dataset.startsWith('folder:')
          ? `--set data.channels=${want.channels}`
          : `a dataset of ${want.channels === 1 ? 'grey' : 'colour'} images`,
      );
    throw new UserError(
      `--init ${init.spec} was trained on ${shapeOf(want)} images but ${dataName} gives ${shapeOf(info)}; fine-tune on data of its shape (${fixes.join(', ')})`,
    );
  }
  const kind = condKindOf(cfg);
  if (kind === 'label' && want.numClasses !== info.numClasses)
    throw new UserError(
      `--init ${init.spec} was trained on ${want.numClasses} classes but ${dataName} has ${info.numClasses}; fine-tune on data with ${want.numClasses} classes (a folder: one subfolder per class)`,
    );
  if (kind !== 'text') return info;
  // bpe: the init model's alphabet (vocabulary) and merges fix its token ids; any caption splits into its pieces
  if (condTokenizerOfModel(cfg.model).tokenizer === 'bpe') {
    if (!want.merges)
      throw new UserError(
        `--init ${init.spec} has no BPE merges (it was trained with model.cond.tokenizer=word); fine-tune it with --set model.cond.tokenizer=word or train a new model without --init`,
      );
    return { ...info, vocabulary: [...(want.vocabulary ?? [])], merges: [...want.merges] };
  }
  const known = new Set(want.vocabulary ?? []);
  const unknown = (info.vocabulary ?? []).filter((w) => !known.has(w));
  if (unknown.length)
    throw new UserError(
      `--init ${init.spec} knows ${known.size} caption words but ${dataName} uses ${unknown.length} others (${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}); its text encoder has one embedding per known word, so fine-tune on captions made of its words (class subfolders named with them) or train a new model without --init`,
    );
  return { ...info, vocabulary: [...(want.vocabulary ?? [])] };
}

/** Loads the init model's weights into a freshly built model (EMA weights over them when kept), before the trainer
 *  (and its EMA, which starts from them) is made; a network of another shape is the mismatch error naming tensors. */
export function loadInitWeights(model: GenerativeModel, init: InitModel, log: (line: string) => void): void {
  const hint =
    '--init needs the same architecture: drop the flags or --set keys that change the network (e.g. --latent, --hidden, --arch), or train a new model without --init.';
  assignRecords(model.params.all(), init.weights, `${CHECKPOINT_FILES.model} of --init ${init.spec}`, hint);
  if (init.ema) assignRecords(emaVarsOf(model), init.ema, `${CHECKPOINT_FILES.ema} of --init ${init.spec}`, hint);
  log(
    `Starting from ${init.spec}${init.step !== undefined ? ` (step ${init.step})` : ''}: its ${init.ema ? 'EMA weights (ema.safetensors)' : 'weights (model.safetensors; it kept no EMA)'}, a fresh Adam, step 0`,
  );
}
