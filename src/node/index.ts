// deepgen/node: everything of deepgen (src/index.ts) plus what needs Node: models from run folders on disk, test-set
// evaluation of runs, datasets, the native backend, checkpoint folders, PNG and GIF files.

/**
 * Everything of `deepgen`, plus what needs Node: train() runs into folders, loadModel from a run folder, evaluate(), datasets, the native backend, checkpoints on disk, PNG and GIF files.
 *
 * @module deepgen/node
 */
export * from '../index.ts';

// the Node loadModel (a run folder or a URL, on a chosen backend) wins over the star export's core one
export { loadModel, type NodeLoadModelOptions } from './load-model.ts';
// training runs: resumable, with progress callbacks and an AbortSignal; no signal handlers, silent unless given a log
export {
  train,
  type RunConfigInput,
  type TrainOptions,
  type TrainResult,
  type TrainStepInfo,
  type CheckpointInfo,
} from './train.ts';
export { evaluate, type EvaluateOptions, type EvalReport, type EvalMetric } from './evaluate.ts';
export type { SampleQualityResult, QualityFigures } from './sample-quality.ts';
// any images (another tool's samples, a real set) scored as eval and cond-eval score a run's samples
export { scoreImages, type ScoreOptions, type ScoreResult, type ScoreLines, type ScoreMetric } from './score.ts';

export { initBackend, BACKENDS, type BackendName } from './backend.ts';
export {
  loadDataset,
  listDatasets,
  DATASET_NAMES,
  type LoadDatasetOptions,
  type DatasetInfo,
} from './data/datasets.ts';
export type { ImageDataset } from '../core/data/types.ts';
export { loadCheckpoint, saveCheckpoint, hasCheckpoint } from './checkpoint-store.ts';
export type { Checkpoint, CheckpointConfigFile, CheckpointState } from '../core/checkpoint/format.ts';

export {
  exportTorch,
  importTorch,
  type ExportOptions,
  type ExportResult,
  type ImportOptions,
} from './torch-package.ts';
export { encodePng, writePng, type PictureOptions } from './images.ts';
export { decodePng } from './png.ts';
export { encodeGif, writeGif, type GifOptions } from './gif.ts';
