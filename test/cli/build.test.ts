// The built CLI (bin/deepgen.js -> dist/, as users run it): starts without tsx, lists every command from the table,
// and each command module registers the command its table entry names (so the lazy table cannot drift).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { COMMANDS, commandOf } from '../../src/cli/commands.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const BUILT = path.join(ROOT, 'bin/deepgen.js');
const run = (args: string[]) => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no tsx loader: the built CLI must run on plain node
  return spawnSync(process.execPath, [BUILT, ...args], { encoding: 'utf8', env });
};

test('the built CLI prints its version and every command without a loader', () => {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const v = run(['--version']);
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), version);
  const h = run(['--help']);
  assert.equal(h.status, 0, h.stderr);
  for (const c of COMMANDS) assert.match(h.stdout, new RegExp(`^  ${c.name}\\b`, 'm'), `${c.name} missing from --help`);
  const s = run(['sample', '--help']);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /--batch-size/);
});

test('an unknown command is a one-line usage error (exit 2)', () => {
  const r = run(['smaple']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^deepgen: error: unknown command 'smaple'/m);
  assert.ok(!/^\s+at /m.test(r.stderr), r.stderr);
});

test('each table entry loads a module that defines that command', async () => {
  for (const c of COMMANDS) {
    const program = new Command();
    (await c.load())(program);
    const names = program.commands.map((x) => x.name());
    assert.ok(names.includes(c.name), `${c.name}'s module registers ${names.join(', ')}`);
    const cmd = program.commands.find((x) => x.name() === c.name)!;
    const args = cmd.registeredArguments
      .map((a) => (a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`))
      .join(' ');
    assert.equal(args, c.args, `${c.name}: the table says "${c.args}", the module "${args}"`);
  }
  assert.equal(commandOf(['sample', 'runs/x', '--seed', '1'])?.name, 'sample');
  assert.equal(commandOf(['help', 'eval'])?.name, 'eval');
  assert.equal(commandOf(['--help']), undefined);
});
