// Where deepgen keeps what it downloads, trains or builds once (evaluation classifiers, fetched models, datasets):
// $DEEPGEN_CACHE, a checkout's .cache, or the user's cache.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two levels above this file). */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where cached artefacts live: $DEEPGEN_CACHE; else, in a checkout, <repo>/.cache; else (deepgen installed as a package,
 * whose folder under node_modules may be read-only or shared) the user's cache, $XDG_CACHE_HOME/deepgen or
 * ~/.cache/deepgen.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env, packageRoot = REPO_ROOT): string {
  if (env.DEEPGEN_CACHE) return path.resolve(env.DEEPGEN_CACHE);
  if (!packageRoot.split(path.sep).includes('node_modules')) return path.join(packageRoot, '.cache');
  return path.join(
    env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'),
    'deepgen',
  );
}
