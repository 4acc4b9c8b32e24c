// Runs the deepgen CLI (bin/deepgen.js) in a child node process for end-to-end tests: exit code, stdout, stderr.
import { execFile } from 'node:child_process';
import path from 'node:path';

export const BIN = path.join(import.meta.dirname, '../../bin/deepgen.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deepgen ...args` in cwd; the test runner's NODE_OPTIONS / NODE_TEST_CONTEXT are kept out of the child. */
export function runCli(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<CliResult> {
  const env = { ...(opts.env ?? process.env) };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: opts.cwd, env, timeout: opts.timeout ?? 180_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
