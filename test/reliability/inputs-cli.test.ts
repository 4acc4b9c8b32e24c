// The command line on bad input (issue 19, items 6, 8, 10): every case exits 2 with exactly one `deepgen: error:` line
// naming the problem; none is an internal error (exit 1) or a stack trace.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { registerCompare } from '../../src/cli/compare.ts';
import { registerEval } from '../../src/cli/eval.ts';
import { registerPictures } from '../../src/cli/pictures.ts';
import { registerTrain } from '../../src/cli/train.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { encodeIdx } from '../../src/node/data/idx.ts';
import { runCli } from '../helpers/cli.ts';
import { pngFile } from '../helpers/png-bytes.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-cli-rel-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const run = await trainTinyRun('vae', path.join(tmp, 'run'), { steps: 2 });

/** Runs deepgen and checks the contract: exit 2, one `deepgen: error:` line matching pattern, no internal error. */
async function userFails(args: string[], pattern: RegExp): Promise<void> {
  const r = await runCli(args, { cwd: tmp, timeout: 60_000 });
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  const errors = lines.filter((l) => l.startsWith('deepgen: error:'));
  const what = `deepgen ${args.join(' ')}: exit ${r.code}, stderr:\n${r.stderr}`;
  assert.equal(r.code, 2, what);
  assert.equal(errors.length, 1, what);
  assert.match(errors[0], pattern, what);
  assert.ok(!/internal error|\n\s+at /.test(r.stderr), what);
}

/** A copy of the tiny run with config.json edited. */
function runWithConfig(name: string, edit: (c: Record<string, any>) => void): string {
  const dir = path.join(tmp, name);
  fs.cpSync(run, dir, { recursive: true });
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  edit(c);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c));
  return dir;
}

// (toString, a string height and the other variants are covered in-process by inputs-config.test.ts)
test('damaged config.json: "config": null, family __proto__, dataInfo height 100000', async () => {
  await userFails(
    ['sample', runWithConfig('null', (c) => (c.config = null)), '--n', '2'],
    /has a "config" section that is null, not an object/,
  );
  await userFails(
    ['sample', runWithConfig('proto', (c) => (c.family = '__proto__')), '--n', '2'],
    /Unknown model family "__proto__"/,
  );
  await userFails(
    ['sample', runWithConfig('tall', (c) => (c.dataInfo.height = 100000)), '--n', '2'],
    /dataInfo\.height 100000, expected an integer from 1 to 4096/,
  );
});

test('NaN weights in model.safetensors are reported at load', async () => {
  const dir = path.join(tmp, 'nan');
  fs.cpSync(run, dir, { recursive: true });
  const file = path.join(dir, 'model.safetensors');
  const { tensors, metadata } = decodeSafetensors(fs.readFileSync(file));
  const name = Object.keys(tensors).sort()[0];
  (tensors[name].data as Float32Array)[0] = NaN;
  fs.writeFileSync(file, encodeSafetensors(tensors, metadata));
  await userFails(
    ['sample', dir, '--n', '2'],
    new RegExp(`has NaN or infinite values in ${name.replace(/\./g, '\\.')} \\(1 of \\d+\\)`),
  );
});

test('flags: --latent 100000000, --seed 2^32, --epochs 0, --set __proto__.x=1', async () => {
  const train = [
    'train',
    'vae',
    '--dataset',
    'shapes',
    '--size',
    '16',
    '--train-n',
    '32',
    '--test-n',
    '8',
    '--steps',
    '1',
    '--quiet',
  ];
  await userFails(
    [...train, '--latent', '100000000', '--out', 'big'],
    /The model is too large: .* parameters .* GiB of float32\), over the limit/,
  );
  assert.ok(!fs.existsSync(path.join(tmp, 'big', 'config.json')));
  await userFails(
    ['sample', run, '--seed', '4294967296'],
    /--seed must be an integer from 0 to 4294967295, got "4294967296"/,
  );
  await userFails([...train, '--epochs', '0', '--out', 'e0'], /--epochs must be a number > 0, got "0"/);
  await userFails(
    [...train, '--set', '__proto__.x=1', '--out', 'pp'],
    /Invalid config key "__proto__" in --set __proto__\.x/,
  );
});

test('data: a PNG bomb in an image folder, an idx file with 0 images', async () => {
  const bombs = path.join(tmp, 'bombs');
  fs.mkdirSync(bombs);
  fs.writeFileSync(
    path.join(bombs, 'a.png'),
    pngFile({ width: 20000, height: 20000, color: 0, depth: 8 }, new Uint8Array(100)),
  );
  fs.writeFileSync(path.join(bombs, 'b.png'), pngFile({ width: 8, height: 8, color: 0, depth: 8 }));
  const t0 = performance.now();
  await userFails(
    ['train', 'vae', '--dataset', `folder:${bombs}`, '--size', '16', '--steps', '1', '--quiet', '--out', 'bomb'],
    /a\.png: it is 20000x20000 .*--max-image-pixels N/,
  );
  assert.ok(performance.now() - t0 < 30_000, 'refused from the header (the bomb took 37 s and 3.7 GB before)');
  const idx = path.join(tmp, 'idx0');
  fs.mkdirSync(idx);
  for (const stem of ['train', 't10k']) {
    fs.writeFileSync(path.join(idx, `${stem}-images-idx3-ubyte`), encodeIdx(new Uint8Array(0), [0, 28, 28]));
    fs.writeFileSync(path.join(idx, `${stem}-labels-idx1-ubyte`), encodeIdx(new Uint8Array(0), [0]));
  }
  await userFails(
    ['train', 'vae', '--dataset', 'mnist', '--data-dir', idx, '--steps', '1', '--quiet', '--out', 'idx0'],
    /train-images-idx3-ubyte: the header declares 0 images/,
  );
});

test('--help of train documents --max-image-pixels, and of eval, pictures, interpolate and compare the environment variable', () => {
  let out = '';
  const program = new Command().configureOutput({ writeOut: (t) => (out += t) });
  registerTrain(program);
  registerEval(program);
  registerPictures(program);
  registerCompare(program);
  const help = (name: string) => {
    out = '';
    program.commands.find((c) => c.name() === name)!.outputHelp();
    return out.replace(/\s+/g, ' ');
  };
  assert.match(
    help('train'),
    /--max-image-pixels <n> folder:PATH: refuse images of more pixels .* \(default \$DEEPGEN_MAX_IMAGE_PIXELS or 33554432\)/,
  );
  for (const cmd of ['eval', 'pictures', 'interpolate', 'compare'])
    assert.match(
      help(cmd),
      /than the run's data\.maxImagePixels \(else \$DEEPGEN_MAX_IMAGE_PIXELS, else 33554432\) is refused before decoding/,
      cmd,
    );
});
