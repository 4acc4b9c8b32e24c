// Runs the deepgen CLI (bin/deepgen.js) in a child node process for end-to-end tests: exit code, stdout, stderr.
import { execFile } from 'node:child_process';
import path from 'node:path';

export const BIN = path.join(import.meta.dirname, '../../bin/deepgen.js');

export interface CliResult {
  code: number;
  /** The signal that ended the child (e.g. SIGKILL), else null. */
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** `deepgen ...args` in cwd (`node [nodeArgs] bin/deepgen.js`); the test runner's NODE_OPTIONS / NODE_TEST_CONTEXT are kept out of the child. */
export function runCli(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number; nodeArgs?: string[] }): Promise<CliResult> {
  const env = { ...(opts.env ?? process.env) };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], { cwd: opts.cwd, env, timeout: opts.timeout ?? 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, signal: (err as { signal?: string } | null)?.signal ?? null, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
