// Resolving a run's config on Node: the platform-free resolution (src/core/config/run-config.ts) plus reading a
// --config JSON file.
import fs from 'node:fs';
import type { PlainObject } from '../core/config/overrides.ts';
import { oneLine, UserError } from '../core/errors.ts';

export { choosesPreprocess, resolveRunConfig, withDataDir, type ResolvedRunConfig } from '../core/config/run-config.ts';

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
    throw new UserError(`Config file ${path} is not a JSON object (${oneLine((e as Error).message)}); fix the file`);
  }
}
