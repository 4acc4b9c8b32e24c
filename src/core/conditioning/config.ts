// The `cond` section shared by conditional models: what y is (nothing, a class label or a text prompt) and how
// it is embedded, plus the classifier-free guidance drop probability.
import { z } from 'zod';

/** cond.merges' default: enough for the common pieces of a few thousand caption words (stem, suffix, whole short words). */
const DEFAULT_MERGES = 800;

export const condSchema = z
  .object({
    /** 'none' (unconditional), 'label' (learned class embedding) or 'text' (tokenizer + small transformer). */
    kind: z.enum(['none', 'label', 'text']).default('none'),
    /** Size of the conditioning embedding c = embed(y), [B, dim]. */
    dim: z.number().int().positive().default(128),
    /** Classifier-free guidance: probability of replacing y by the learned null embedding during training. */
    dropProb: z.number().min(0).max(1).default(0.1),
    /** Transformer blocks in the text encoder; 0 = mean of token embeddings followed by an MLP. */
    textLayers: z.number().int().min(0).default(1),
    /** Attention heads per text block (dim must be divisible by it). */
    textHeads: z.number().int().positive().default(4),
    /** Longest prompt, in tokens: words for tokenizer 'word', subword pieces (often several per word) for 'bpe'. */
    maxTokens: z.number().int().positive().default(16),
    /** How prompts become token ids (kind 'text'): 'word', one id per training-caption word (an unseen word is an
     *  error); 'bpe', byte-pair-encoded subwords learned from the caption words (an unseen word splits into known
     *  pieces, an unseen character is <unk>), for open-vocabulary prompts. */
    tokenizer: z.enum(['word', 'bpe']).default('word'),
    /** BPE merges to learn (tokenizer 'bpe'): more gives longer pieces and a larger embedding table (about
     *  2 x characters + merges ids); learning stops early once every caption word is one piece. */
    merges: z.number().int().min(0).default(DEFAULT_MERGES),
  })
  .strict()
  .refine((c) => c.kind !== 'text' || c.dim % c.textHeads === 0, {
    message: 'cond.dim must be divisible by cond.textHeads',
    path: ['dim'],
  });

export type CondConfig = z.infer<typeof condSchema>;

/** What a model is conditioned on: nothing, a class label or a text prompt. */
export type CondKind = CondConfig['kind'];

/** The conditioning kind of a model config section: its cond.kind, or 'none' for a model with no `cond` section. */
export function condKindOfModel(model: unknown): CondKind {
  const kind = (model as { cond?: { kind?: unknown } } | null | undefined)?.cond?.kind;
  return kind === 'label' || kind === 'text' ? kind : 'none';
}

/** The prompt tokenizer settings of a model config section: its cond.tokenizer and cond.merges, or the defaults
 *  ('word', 800) for a section that does not set them (configs written before they existed). */
export function condTokenizerOfModel(model: unknown): Pick<CondConfig, 'tokenizer' | 'merges'> {
  const cond = (model as { cond?: { tokenizer?: unknown; merges?: unknown } } | null | undefined)?.cond;
  const merges = cond?.merges;
  return {
    tokenizer: cond?.tokenizer === 'bpe' ? 'bpe' : 'word',
    merges: Number.isSafeInteger(merges) && (merges as number) >= 0 ? (merges as number) : DEFAULT_MERGES,
  };
}

/** The conditioning kind of a run config ({ family, model, ... }, e.g. a loaded run's cfg): 'none' | 'label' | 'text'. */
export function condKindOf(config: { model: unknown }): CondKind {
  return condKindOfModel(config.model);
}
