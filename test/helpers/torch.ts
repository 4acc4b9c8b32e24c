// PyTorch for the export tests: Debian's python3 (its python3-torch), or DEEPGEN_PYTHON.
import { spawnSync } from 'node:child_process';

export const PYTHON = process.env.DEEPGEN_PYTHON ?? '/usr/bin/python3';

/** Why PyTorch cannot run here, or null when it can; throws when DEEPGEN_REQUIRE_TORCH=1 (CI) and it cannot. */
export function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  const why = r.error
    ? `${PYTHON} does not run (${r.error.message})`
    : r.status === 0
      ? null
      : `${PYTHON} has no torch (apt-get install python3-torch)`;
  if (why && process.env.DEEPGEN_REQUIRE_TORCH === '1') throw new Error(`DEEPGEN_REQUIRE_TORCH=1 but ${why}`);
  return why;
}
