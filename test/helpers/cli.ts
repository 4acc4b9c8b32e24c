// Runs the deepgen CLI (from source: deepgen-src.mjs) in a child node process for end-to-end tests: exit code, stdout, stderr;
// assertUserError checks the one-line user error (exit 2).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The CLI from source under tsx (the tests' `deepgen`); bin/deepgen.js runs the build in dist/. */
export const BIN = path.join(import.meta.dirname, 'deepgen-src.mjs');

export interface CliResult {
  code: number;
  /** The signal that ended the child (e.g. SIGKILL), else null. */
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * `deepgen ...args` in cwd; the test runner's NODE_OPTIONS / NODE_TEST_CONTEXT are kept out of the child. nodeArgs go
 * before the script, e.g. ['--import', preload] to make a file system call fail in the child.
 */
export function runCli(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number; nodeArgs?: string[] },
): Promise<CliResult> {
  const env = { ...(opts.env ?? process.env) };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...(opts.nodeArgs ?? []), BIN, ...args],
      { cwd: opts.cwd, env, timeout: opts.timeout ?? 180_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({
          code,
          signal: (err as { signal?: string } | null)?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

/** Commander's line after its own errors. */
const HELP_HINT = '(run with --help for usage)';

/**
 * A user error: exit 2, one `deepgen: error:` line that ends stderr (progress lines may come before it), no stack
 * trace, no internal error; the line matches every pattern. Returns the line.
 */
export function assertUserError(r: CliResult, ...patterns: RegExp[]): string {
  const show = `exit ${r.code}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;
  assert.equal(r.code, 2, `expected exit 2\n${show}`);
  assert.ok(!/^\s+at /m.test(r.stderr), `stack trace in stderr\n${show}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && l.trim() !== HELP_HINT);
  assert.equal(
    lines.filter((l) => /^deepgen: (internal )?error/.test(l)).length,
    1,
    `expected one error line\n${show}`,
  );
  const line = lines.at(-1)!;
  assert.match(line, /^deepgen: error: \S/, show);
  for (const p of patterns) assert.match(line, p);
  return line;
}

/** `deepgen serve ...args --port 0` in a child process: resolves with its URL (http://127.0.0.1:PORT/) and what it
 *  printed once it listens; rejects with its stderr if it exits first. The caller kills the child. */
export async function startServe(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ url: string; out: string; child: ChildProcess }> {
  const env = { ...(opts.env ?? process.env) };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [BIN, 'serve', ...args, '--port', '0'], {
    cwd: opts.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { url, out, child };
}
