// The run config's shared data/train sections, validated strictly with zod (run-config.ts adds the family's model
// section). Unknown keys are errors; every error is one line naming the key and what is expected.
import { z } from 'zod';
import { shapePairProblem } from '../data/shapes.ts';

/** Seeds are uint32: the RNG keeps 32 bits, so a larger seed would silently repeat a smaller one's images. */
export const MAX_SEED = 0xffffffff;
const seedSchema = z.number().int().min(0).max(MAX_SEED);

export const PREPROCESS = ['scale01', 'symmetric', 'binarize-dynamic', 'binarize-fixed', 'dequantize'] as const;

export const dataSchema = z
  .object({
    dataset: z.string().min(1),
    dataDir: z.string().optional(),
    /** Image size for datasets that can be resized (shapes, image folders). */
    size: z.number().int().min(4).max(512).optional(),
    /** Use only the first n training images (0 = all). */
    trainN: z.number().int().min(0).default(0),
    /** Use only the first n test images (0 = all). */
    testN: z.number().int().min(0).default(0),
    preprocess: z.enum(PREPROCESS),
    /** Seed of the one-time binarization/dequantization of the test set, so every eval sees the same data. */
    testSeed: seedSchema.default(0),
    /** folder: datasets only: 1 = grey, 3 = RGB images (default 3), e.g. to fine-tune a grey model on a folder. */
    channels: z.union([z.literal(1), z.literal(3)]).optional(),
    /** Largest image (width x height) read from a folder: dataset; bigger files are refused before decoding. */
    maxImagePixels: z.number().int().min(1).optional(),
    /** emoji data sets only: also train on the skin-tone variants (about 3,750 more images per vendor pair). */
    skinTones: z.boolean().optional(),
    /** shapes only: "<color> <kind>" pairs removed from the train split, e.g. ["red circle", "blue square"]. */
    holdOut: z
      .array(
        z.string().superRefine((s, ctx) => {
          const problem = shapePairProblem(s);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.holdOut?.length && d.dataset !== 'shapes')
      ctx.addIssue({
        code: 'custom',
        path: ['holdOut'],
        message: `hold-out pairs only apply to the shapes dataset, not ${d.dataset}`,
      });
    if (d.skinTones && !d.dataset.startsWith('emoji'))
      ctx.addIssue({
        code: 'custom',
        path: ['skinTones'],
        message: `skin tones only apply to the emoji data sets, not ${d.dataset}; drop data.skinTones`,
      });
    if (d.channels !== undefined && !d.dataset.startsWith('folder:'))
      ctx.addIssue({
        code: 'custom',
        path: ['channels'],
        message: `channels only apply to folder: datasets (${d.dataset} has its own); drop data.channels`,
      });
  });

export const trainSchema = z
  .object({
    seed: seedSchema.default(0),
    /** Passes over the training set; fractions allowed, 0 is not (it trained one step). */
    epochs: z.number().positive().default(10),
    /** Total steps; when > 0 it overrides epochs. */
    steps: z.number().int().min(0).default(0),
    batchSize: z.number().int().min(1).default(128),
    lr: z.number().positive().default(1e-3),
    lrSchedule: z.enum(['constant', 'cosine', 'linear']).default('constant'),
    warmupSteps: z.number().int().min(0).default(0),
    beta1: z.number().min(0).max(1).default(0.9),
    beta2: z.number().min(0).max(1).default(0.999),
    weightDecay: z.number().min(0).default(0),
    /** Clip gradients to this global L2 norm (0 = off). */
    clipNorm: z.number().min(0).default(0),
    /** EMA decay of weights kept for sampling (0 = off). */
    ema: z.number().min(0).max(1).default(0),
    logEvery: z.number().int().min(1).default(50),
    sampleEvery: z.number().int().min(0).default(500),
    checkpointEvery: z.number().int().min(0).default(500),
  })
  .strict();

export type DataConfig = z.infer<typeof dataSchema>;
export type TrainConfig = z.infer<typeof trainSchema>;

/** One line per zod issue, joined: "model.latent: expected number, got string". */
export function formatZodError(err: z.ZodError, source: string): string {
  const parts = err.issues.map((i) => {
    const path = i.path.join('.') || '(root)';
    if (i.code === 'unrecognized_keys')
      return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => (path === '(root)' ? k : `${path}.${k}`)).join(', ')}`;
    return `${path}: ${i.message}`;
  });
  return `Invalid config (${source}): ${parts.join('; ')}`;
}
