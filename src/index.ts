// deepgen: the platform-free entry (browser and Node). Families, loading a trained model from bytes or a URL,
// sampling, conditioning, encoding and likelihoods on pixel arrays, metrics maths and safetensors. Imports only
// src/core; files, datasets, training and the native backend are in deepgen/node (src/node/index.ts).

/**
 * The platform-free entry, for Node and the browser: load a trained model from a URL or bytes, sample (labels, prompts, guidance), encode and decode, log-probabilities, pixel arrays and grids, configs and families, metrics maths, safetensors.
 *
 * @module deepgen
 */

// Models: load one, sample, encode/decode, log-probabilities
export { loadModel, modelFromFiles, fetchModelFiles, type ModelFiles, type LoadModelOptions } from './core/api/load.ts';
export {
  Model,
  type ModelCapabilities,
  type Conditioning,
  type SampleRequest,
  type ConditionOptions,
  type LogProb,
  type ModelParts,
} from './core/api/model.ts';
export { labelIndex } from './core/api/labels.ts';

// Pictures as pixel arrays
export {
  checkImages,
  checkCodes,
  imageGrid,
  imagesToTensor,
  tensorToImages,
  type Images,
  type Codes,
} from './core/api/images.ts';
export {
  makeGrid,
  concatHorizontal,
  floatsToUint8,
  upscale,
  toChannels,
  type ImageU8,
  type GridOptions,
} from './core/viz/grid.ts';

// Families and configs
// Samplers (diffusion): the registry behind the sampler option, the CLI's --sampler and the playground's menu
export { samplers, samplerNames, getSampler, type Sampler, type SamplerName } from './core/diffusion/samplers/index.ts';
export { condKindOf, type CondKind } from './core/conditioning/config.ts';

export { registry, getFamily, familyList, type FamilyName, type FamilySummary } from './core/registry.ts';
export type { Family, DataInfo, SamplingOption } from './core/family.ts';
export { resolveRunConfig, type ResolvedRunConfig } from './core/config/run-config.ts';
export type { DataConfig, TrainConfig } from './core/config/schema.ts';

// Evaluation results and metrics maths
export {
  evalCapabilities,
  type EvalResult,
  type LikelihoodFigure,
  type LikelihoodKind,
  type EvalCapabilities,
} from './core/eval/result.ts';
export {
  gaussianStats,
  frechetDistance,
  kernelDistance,
  precisionRecall,
  type GaussianStats,
  type KidResult,
} from './core/eval/fid.ts';
export { natsToBitsPerDim, bitsPerDimToNats } from './core/math/units.ts';

// Checkpoint files
export {
  encodeSafetensors,
  decodeSafetensors,
  type TensorRecord,
  type SafetensorsContents,
  type Dtype,
} from './core/checkpoint/safetensors.ts';

export { UserError } from './core/errors.ts';
