// Example prompts per data set, for prompt boxes and help: the playground's placeholder and suggestions.
import { EMOJI_EXAMPLE_PROMPTS } from './emoji.ts';

/** A few prompts a text model of `dataset` was trained to follow (emoji: seen names, then held-out ones). */
export function examplePrompts(dataset: string, vocabulary: readonly string[] = []): string[] {
  if (dataset.startsWith('emoji')) return [...EMOJI_EXAMPLE_PROMPTS.seen, ...EMOJI_EXAMPLE_PROMPTS.heldOut];
  if (dataset === 'shapes') return ['a large red circle in the center', 'a small blue square at the top left'];
  return vocabulary.length ? [vocabulary.slice(0, 3).join(' ')] : [];
}
