// Shared CLI plumbing: option parsers that reject bad values in one line, and the error boundary (exit code 2).
import { InvalidArgumentError } from 'commander';
import { MAX_SEED } from '../core/config/schema.ts';
import { UserError, type ErrorHint } from '../core/errors.ts';
import { getFamily, registry } from '../core/registry.ts';
import { samplerNames } from '../core/diffusion/samplers/index.ts';
import { DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV } from '../node/data/image-check.ts';

/** --help note of the commands that read a run's folder:PATH images (train has the --max-image-pixels flag). */
export const IMAGE_LIMIT_HELP = `
Image folders (folder:PATH): an image of more pixels than the run's data.maxImagePixels (else $${MAX_IMAGE_PIXELS_ENV},
else ${DEFAULT_MAX_IMAGE_PIXELS}) is refused before decoding, as a guard against decompression bombs.`;

/** The <run> argument's help: every command that loads a trained model takes these (src/node/model-source.ts). */
export const RUN_ARG_HELP =
  'a run folder written by `deepgen train`, zoo:NAME, an https://…/folder/ URL or hf:OWNER/REPO[/SUBFOLDER][@REVISION]';

/** What a --prompt word outside the training captions does (cond.tokenizer: word or bpe). */
export const PROMPT_WORDS_HELP =
  'Word-tokenized models reject words outside their vocabulary; subword (bpe) models split an unseen word into known pieces, and an unseen character becomes <unk>.';

/** The same for commands that take several runs. */
export const RUNS_ARG_HELP = 'run folders, zoo:NAME, https://…/folder/ URLs or hf:OWNER/REPO[/SUBFOLDER][@REVISION]';

export function intOpt(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}.`);
    return n;
  };
}

/** A seed: an integer 0..2^32-1 (the RNG keeps 32 bits, so 2^32 would repeat seed 1's images). */
export function seedOpt(name = '--seed') {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n > MAX_SEED)
      throw new InvalidArgumentError(`${name} must be an integer from 0 to ${MAX_SEED}, got ${JSON.stringify(v)}.`);
    return n;
  };
}

/** A finite number >= min, or > min when exclusive (e.g. --epochs, where 0 would still train a step). */
export function floatOpt(name: string, min = -Infinity, exclusive = false) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (exclusive && n === min)) {
      throw new InvalidArgumentError(
        `${name} must be a number${min > -Infinity ? ` ${exclusive ? '>' : '>='} ${min}` : ''}, got ${JSON.stringify(v)}.`,
      );
    }
    return n;
  };
}

export function intListOpt(name: string) {
  return (v: string): number[] => {
    const parts = v.split(',').map((s) => s.trim());
    if (!parts.length || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1))
      throw new InvalidArgumentError(
        `${name} must be a comma-separated list of positive integers like 512,256, got ${JSON.stringify(v)}.`,
      );
    return parts.map(Number);
  };
}

export function choiceOpt<T extends string>(name: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!(choices as readonly string[]).includes(v))
      throw new InvalidArgumentError(`${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}.`);
    return v as T;
  };
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Run a command action; user errors print one line and exit 2, internal errors one line and exit 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (e) {
      fail(e);
    }
  };
}

/** Said on the first Ctrl-C of a training command. */
export const INTERRUPT_NOTE =
  'Interrupted: saving a checkpoint after this step (press Ctrl-C again to quit without saving)...';

/**
 * Runs a training call under Ctrl-C handling, the CLI's alone (the library installs no handler): the first Ctrl-C
 * aborts the signal (the run saves after its current step and says how to resume), the second exits 130 at once.
 * Interrupted before the first step, nothing is saved: one line, exit 130.
 */
export async function withCtrlC<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await fn(ac.signal);
  } catch (e) {
    if (ac.signal.aborted && e === ac.signal.reason) {
      process.stderr.write('Interrupted before the first step; nothing was saved\n');
      process.exit(130);
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Config keys that `deepgen train` sets with a flag of their own (others take --set key=value). */
const SETTING_FLAGS: Record<string, string> = {
  'data.size': '--size',
  'data.preprocess': '--preprocess',
  'train.batchSize': '--batch-size',
  'train.lr': '--lr',
  'model.latent': '--latent',
  'model.arch': '--arch',
};

/** A core error's hint worded with the CLI's flags (the web page and library callers get wordHint's plain words). */
export function cliHint(h: ErrorHint): string {
  if (h.kind === 'setting') {
    if (h.key === 'model.cond.kind')
      return `train with ${h.value === 'label' ? '--conditional' : `--cond ${String(h.value)}`}`;
    const flag = SETTING_FLAGS[h.key];
    return `train with ${flag ? `${flag} ${String(h.value)}` : `--set ${h.key}=${String(h.value)}`}`;
  }
  if (h.action === 'drop') return `sample without --${h.option}`;
  if (h.instead) return `use --${h.option} instead of --${h.instead}`;
  return h.option === 'label' ? 'pass class labels (--label N or a class name)' : 'pass prompts (--prompt "...")';
}

/** A core message in the CLI's words: a config setting to make, "set model.scales=2", is `--set model.scales=2` here. */
export function cliWords(text: string): string {
  return text.replace(/\bset ((?:model|data|train)\.[\w.]+=\S)/g, 'use --set $1');
}

export function fail(e: unknown): never {
  if (e instanceof UserError) {
    // one line whatever a message quotes (file names and config strings can hold newlines)
    const text = e.hint ? `${cliWords(e.problem)}; ${cliHint(e.hint)}` : cliWords(e.message);
    process.stderr.write(`deepgen: error: ${text.replace(/[\r\n]+/g, ' ')}\n`);
    process.exit(2);
  }
  const err = e as Error;
  if (process.env.DEEPGEN_DEBUG) process.stderr.write(`${err?.stack ?? String(e)}\n`);
  else
    process.stderr.write(
      `deepgen: internal error: ${err?.message ?? String(e)} (set DEEPGEN_DEBUG=1 for the stack trace, and please report it)\n`,
    );
  process.exit(1);
}

/** The --sampler option of every command that samples a diffusion model: the registry's names. */
export function samplerOption(): [string, string, (v: string) => string] {
  return [
    '--sampler <name>',
    `${samplerNames().join(' or ')} (diffusion; default: the model's)`,
    choiceOpt('--sampler', samplerNames()),
  ];
}

/** The families whose samplers take a sampling option (e.g. 'temperature': flow and gan), from the registry. */
export function familiesTaking(opt: string): string[] {
  return Object.entries(registry)
    .filter(([, fam]) => (fam as { samplingOptions?: readonly string[] }).samplingOptions?.includes(opt))
    .map(([n]) => n);
}

/** The --temperature option of every command that samples: the families that take it, from the registry. */
export function temperatureOption(prefix = ''): [string, string, (v: string) => number] {
  return [
    '--temperature <t>',
    `${prefix}noise scale T, z ~ N(0, T^2 I): below 1 cleaner, more typical, less varied images (${familiesTaking('temperature').join(', ')}; default: the model's)`,
    floatOpt('--temperature', 0),
  ];
}

/**
 * A one-line error for a sampling flag the run's family does not take (e.g. --steps on a GAN), naming the families
 * that do. `flags` pairs a sampling option's name with the flag's value (undefined = not given).
 */
export function checkSamplingFlags(family: string, run: string, flags: [string, unknown][]): void {
  const applies: readonly string[] = getFamily(family).samplingOptions ?? [];
  for (const [opt, v] of flags) {
    if (v === undefined || applies.includes(opt)) continue;
    const which = familiesTaking(opt);
    throw new UserError(`--${opt} applies to ${which.join(' and ') || 'no'} models; ${run} is a ${family}`);
  }
}
