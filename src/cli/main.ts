// The deepgen command line: one subcommand per file (see commands.ts), loaded only when it runs.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { COMMANDS, commandOf } from './commands.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const program = new Command();
program
  .name('deepgen')
  .description('Deep generative image models in TypeScript: train, sample, evaluate and see them.')
  .version(version)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`deepgen: ${str.replace(/^error: /, 'error: ')}`) });

const argv = process.argv.slice(2);
const chosen = commandOf(argv);
if (chosen) {
  (await chosen.load())(program);
} else {
  // the top-level help or an unknown command: names and summaries are enough, no command module is loaded
  for (const c of COMMANDS) program.command(c.args ? `${c.name} ${c.args}` : c.name).description(c.summary);
}
for (const c of program.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // help and version exit 0; usage errors (unknown flag, bad value, missing argument) exit 2
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  (await import('./common.ts')).fail(e);
}
