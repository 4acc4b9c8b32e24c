// The deepgen command line: one subcommand per file, wired here.
import { Command, CommanderError } from 'commander';
import { registerTrain } from './train.ts';
import { registerSample } from './sample.ts';
import { registerEval } from './eval.ts';
import { registerPictures } from './pictures.ts';
import { registerDatasets } from './datasets.ts';
import { registerDemo } from './demo.ts';
import { registerInfo } from './info.ts';
import { registerClassifier } from './classifier.ts';
import { registerCondEval } from './cond-eval.ts';
import { registerLeaderboard } from './leaderboard.ts';
import { registerServe } from './serve.ts';
import { registerCompare } from './compare.ts';
import { fail } from './common.ts';

const program = new Command();
program
  .name('deepgen')
  .description('Deep generative image models in TypeScript: train, sample, evaluate and see them.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`deepgen: ${str.replace(/^error: /, 'error: ')}`) });

registerDemo(program);
registerTrain(program);
registerSample(program);
registerEval(program);
registerPictures(program);
registerDatasets(program);
registerInfo(program);
registerClassifier(program);
registerCondEval(program);
registerLeaderboard(program);
registerServe(program);
registerCompare(program);
for (const c of program.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // help and version exit 0; usage errors (unknown flag, bad value, missing argument) exit 2
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  fail(e);
}
