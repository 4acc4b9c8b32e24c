// `deepgen info`: the compute engine in use: backend, the BLAS the native addon found, threads, SIMD, and a
// one-second sgemm GFLOPS check.
import type { Command } from 'commander';
import { BACKEND_HELP, initBackend } from '../node/backend.ts';
import { engineReport, formatEngineReport } from '../node/native/info.ts';
import { action, floatOpt } from './common.ts';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show the compute backend deepgen uses, the BLAS library found, threads and a quick GFLOPS check')
    .option('--backend <name>', `the backend to check; ${BACKEND_HELP}`, 'auto')
    .option('--seconds <s>', 'duration of the sgemm check', floatOpt('--seconds', 0.05), 1)
    .option('--json', 'print JSON')
    .action(
      action(async (f: { backend: string; seconds: number; json?: boolean }) => {
        await initBackend(f.backend);
        const r = engineReport(f.seconds);
        process.stdout.write(f.json ? JSON.stringify(r, null, 2) + '\n' : formatEngineReport(r) + '\n');
      }),
    );
}
