// End-to-end tests of the `deepgen` command line: help, one-line user errors (exit 2), and tiny real runs
// (train, sample, eval, resume, label- and text-conditional, interpolate, pictures, AE). Every child process runs with its
// cwd in a fresh temp folder, so nothing (runs/ included) is written into the repository.
//
// Speed: each CLI process costs ~1 s of startup (tsx + tfjs), so the tests run concurrently inside one
// suite and share three tiny trained runs (memoised promises). Tests that train are prefixed 'e2e:'.
import { BIN as SRC_BIN } from '../helpers/cli.ts';
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeSafetensors } from '../../src/core/checkpoint/safetensors.ts';
import { decodePng } from '../../src/node/png.ts';

const BIN = SRC_BIN;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-cli-'));
const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
const HINT = '(run with --help for usage)';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A tiny shapes config: a VAE trains in ~1-2 s. */
const TINY = [
  '--dataset',
  'shapes',
  '--size',
  '16',
  '--train-n',
  '256',
  '--test-n',
  '64',
  '--steps',
  '20',
  '--batch-size',
  '32',
  '--hidden',
  '64',
  '--latent',
  '4',
  '--backend',
  'auto',
  '--quiet',
];

after(() => fs.rmSync(TMP, { recursive: true, force: true }));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const childEnv = { ...process.env };
delete childEnv.DEEPGEN_DEBUG;
delete childEnv.NODE_OPTIONS; // the test runner's flags must not leak into the CLI
delete childEnv.NODE_TEST_CONTEXT;

/** Run `deepgen ...args` with cwd = the temp folder; never rejects. */
function cli(args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: opts.cwd ?? TMP, env: childEnv, timeout: opts.timeout ?? 120_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

function show(r: CliResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** Run and require exit 0. */
async function ok(args: string[]): Promise<CliResult> {
  const r = await cli(args);
  assert.equal(r.code, 0, `deepgen ${args.join(' ')} failed:\n${show(r)}`);
  return r;
}

/** A user error: exit 2, exactly one `deepgen: error:` line (plus commander's hint), no stack trace. Returns that line. */
function assertUserError(r: CliResult, what: string, mentions?: RegExp): string {
  assert.equal(r.code, 2, `${what}: expected exit 2\n${show(r)}`);
  assert.ok(!r.stderr.includes('    at '), `${what}: stack trace in stderr\n${show(r)}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && l.trim() !== HINT);
  assert.equal(lines.length, 1, `${what}: expected one error line\n${show(r)}`);
  assert.match(lines[0], /^deepgen: error: \S/, `${what}: bad error line\n${show(r)}`);
  if (mentions) assert.match(lines[0], mentions, `${what}: error line should match ${mentions}`);
  return lines[0];
}

function isPng(file: string): boolean {
  const b = fs.readFileSync(file);
  return b.length > 8 && b.subarray(0, 8).equals(PNG_SIGNATURE);
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

interface TrainedRun {
  dir: string;
  /** The folder's files right after training (later tests write into the folder concurrently). */
  files: Map<string, Buffer>;
  result: CliResult;
}

async function trainInto(name: string, args: string[]): Promise<TrainedRun> {
  const dir = path.join(TMP, name);
  const result = await ok([...args, '--out', dir]);
  const files = new Map<string, Buffer>();
  for (const f of fs.readdirSync(dir)) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) files.set(f, fs.readFileSync(p));
  }
  return { dir, files, result };
}

const vaeRun = once(() => trainInto('vae', ['train', 'vae', ...TINY, '--log-every', '5']));
const condRun = once(() => trainInto('cond', ['train', 'vae', ...TINY, '--conditional']));
const aeRun = once(() => trainInto('ae', ['train', 'ae', ...TINY, '--latent', '2']));
const textRun = once(() =>
  trainInto('text', ['train', 'vae', ...TINY, '--set', 'model.cond.kind=text', '--set', 'model.cond.dim=16']),
);

function floatTensors(file: string): Record<string, { shape: number[]; data: Float32Array }> {
  const { tensors } = decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, r] of Object.entries(tensors)) {
    assert.equal(r.dtype, 'F32', `${file}: ${k} is ${r.dtype}`);
    out[k] = { shape: r.shape, data: r.data as Float32Array };
  }
  return out;
}

function assertTensorsClose(a: string, b: string, tol: number): void {
  const ta = floatTensors(a);
  const tb = floatTensors(b);
  assert.deepEqual(Object.keys(ta).sort(), Object.keys(tb).sort(), 'same tensor names');
  for (const k of Object.keys(ta)) {
    assert.deepEqual(ta[k].shape, tb[k].shape, `${k}: shape`);
    let worst = 0;
    for (let i = 0; i < ta[k].data.length; i++) worst = Math.max(worst, Math.abs(ta[k].data[i] - tb[k].data[i]));
    assert.ok(worst <= tol, `${k}: max |diff| ${worst} > ${tol}`);
  }
}

describe('deepgen CLI', { concurrency: 3 }, () => {
  // ---------------------------------------------------------------- 1. help
  const HELP: [string[], string[]][] = [
    [[], ['demo', 'train', 'sample', 'eval', 'pictures', 'interpolate', 'datasets']],
    [['demo'], ['--out', '--epochs', '--backend']],
    [
      ['train'],
      [
        '--latent',
        '--beta',
        '--likelihood',
        '--resume',
        '--backend',
        '--out',
        '--dataset',
        '--steps',
        '--stop-at',
        '--set',
        '--conditional',
        'Examples:',
      ],
    ],
    [['sample'], ['--n', '--seed', '--label', '--prompt', '--out', '--backend']],
    [['eval'], ['--iwae', '--n', '--json', '--data-dir', '--backend']],
    [['pictures'], ['--out', '--data-dir', '--backend']],
    [['interpolate'], ['--a', '--b', '--steps', '--out']],
    [['datasets'], ['--json']],
  ];
  for (const [sub, flags] of HELP) {
    test(`help: deepgen ${[...sub, '--help'].join(' ')} exits 0 and lists ${flags.join(' ')}`, async () => {
      const r = await ok([...sub, '--help']);
      assert.match(r.stdout, new RegExp(`^Usage: deepgen${sub.length ? ' ' + sub[0] : ''} `));
      for (const f of flags)
        assert.ok(r.stdout.includes(f), `help of "${sub.join(' ') || 'deepgen'}" should mention ${f}:\n${r.stdout}`);
      assert.equal(r.stderr, '');
    });
  }

  // ---------------------------------------------------------------- 2. bad input
  const emptyDir = path.join(TMP, 'empty-data');
  const corruptDir = path.join(TMP, 'corrupt-data');
  fs.mkdirSync(emptyDir);
  fs.mkdirSync(corruptDir);
  // only the raw (non-.gz) train images file, full of garbage: it is the first file a load reads
  fs.writeFileSync(
    path.join(corruptDir, 'train-images-idx3-ubyte'),
    Buffer.from('this is not an idx file, just garbage bytes\n'.repeat(20)),
  );
  const FASHION_TINY = [
    '--dataset',
    'fashion-mnist',
    '--train-n',
    '512',
    '--test-n',
    '100',
    '--steps',
    '10',
    '--batch-size',
    '32',
    '--hidden',
    '64',
    '--latent',
    '4',
    '--quiet',
  ];

  const BAD: { name: string; args: string[]; mentions?: RegExp; out?: string }[] = [
    { name: 'unknown flag', args: ['train', 'vae', '--bogus-flag'], mentions: /--bogus-flag/ },
    { name: 'unknown command', args: ['frobnicate'], mentions: /frobnicate/ },
    { name: 'missing run argument', args: ['sample'], mentions: /run/ },
    { name: '--latent abc', args: ['train', 'vae', '--latent', 'abc'], mentions: /--latent/ },
    { name: '--lr -1', args: ['train', 'vae', '--lr', '-1'], mentions: /--lr/ },
    { name: '--steps 0', args: ['train', 'vae', '--steps', '0'], mentions: /--steps/ },
    {
      name: 'unknown family',
      args: ['train', 'vqvae', ...TINY],
      mentions: /Unknown model family "vqvae"; available: .*gan/,
      out: 'bad-family',
    },
    { name: 'no family and no --resume', args: ['train'], mentions: /family/ },
    {
      name: 'unknown dataset',
      args: ['train', 'vae', ...TINY, '--dataset', 'nope'],
      mentions: /nope/,
      out: 'bad-dataset',
    },
    { name: 'sample of a missing run folder', args: ['sample', '/nonexistent'], mentions: /\/nonexistent/ },
    { name: 'eval of a missing run folder', args: ['eval', '/nonexistent'], mentions: /\/nonexistent/ },
    {
      name: 'resume without a checkpoint',
      args: ['train', '--resume', '--out', path.join(TMP, 'no-such-run')],
      mentions: /resume/i,
    },
    {
      name: '--set model.nope=1',
      args: ['train', 'vae', ...TINY, '--set', 'model.nope=1'],
      mentions: /model\.nope/,
      out: 'bad-set-key',
    },
    {
      name: '--set train.lr=abc',
      args: ['train', 'vae', ...TINY, '--set', 'train.lr=abc'],
      mentions: /train\.lr/,
      out: 'bad-set-value',
    },
    {
      name: '--config missing file',
      args: ['train', 'vae', ...TINY, '--config', path.join(TMP, 'nope.json')],
      mentions: /nope\.json/,
      out: 'bad-config',
    },
    {
      name: 'fashion-mnist with an empty --data-dir',
      args: ['train', 'vae', ...FASHION_TINY, '--data-dir', emptyDir],
      mentions: /empty-data/,
      out: 'bad-empty-dir',
    },
    {
      name: 'fashion-mnist with a corrupt idx file',
      args: ['train', 'vae', ...FASHION_TINY, '--data-dir', corruptDir],
      mentions: /train-images-idx3-ubyte/,
      out: 'bad-corrupt',
    },
    { name: '--backend gpu', args: ['train', 'vae', ...TINY, '--backend', 'gpu'], mentions: /gpu/, out: 'bad-backend' },
  ];
  for (const c of BAD) {
    test(`bad input: ${c.name} -> exit 2, one error line`, async () => {
      const out = c.out ? path.join(TMP, c.out) : undefined;
      const r = await cli(out ? [...c.args, '--out', out] : c.args);
      assertUserError(r, c.name, c.mentions);
      assert.equal(r.stdout, '', `${c.name}: nothing on stdout`);
      if (out) assert.ok(!fs.existsSync(path.join(out, 'config.json')), `${c.name}: no checkpoint may be written`);
    });
  }

  test('e2e: bad input on a trained run: --label or --prompt on an unconditional model, --out x.jpg', async () => {
    const { dir } = await vaeRun();
    const [label, prompt, jpg] = await Promise.all([
      cli(['sample', dir, '--label', '3']),
      cli(['sample', dir, '--prompt', 'a red circle']),
      cli(['sample', dir, '--out', path.join(TMP, 'x.jpg')]),
    ]);
    assertUserError(label, '--label 3 on an unconditional model', /not label-conditional/);
    assertUserError(prompt, '--prompt on an unconditional model', /not text-conditional/);
    assertUserError(jpg, '--out x.jpg', /\.png/);
    assert.ok(!fs.existsSync(path.join(TMP, 'x.jpg')));
  });

  test('e2e: sample --scale 3 writes the same grid with every pixel as a 3x3 block; --scale 17 is a user error', async () => {
    const { dir } = await vaeRun();
    const [one, three] = [path.join(TMP, 'scale-1.png'), path.join(TMP, 'scale-3.png')];
    await Promise.all([
      ok(['sample', dir, '--n', '4', '--seed', '5', '--out', one]),
      ok(['sample', dir, '--n', '4', '--seed', '5', '--scale', '3', '--out', three]),
    ]);
    const a = decodePng(fs.readFileSync(one)),
      b = decodePng(fs.readFileSync(three));
    assert.equal(b.width, 3 * a.width);
    assert.equal(b.height, 3 * a.height);
    for (let y = 0; y < b.height; y += 5) {
      for (let x = 0; x < b.width; x += 7) {
        for (let c = 0; c < a.channels; c++)
          assert.equal(
            b.data[(y * b.width + x) * b.channels + c],
            a.data[(Math.floor(y / 3) * a.width + Math.floor(x / 3)) * a.channels + c],
          );
      }
    }
    assertUserError(await cli(['sample', dir, '--scale', '17']), '--scale 17', /--scale must be at most 16/);
  });

  test('e2e: bad input on a conditional run: --label 99 and an unknown class name', async () => {
    const { dir } = await condRun();
    const [n99, name] = await Promise.all([
      cli(['sample', dir, '--label', '99']),
      cli(['sample', dir, '--label', 'hexagon']),
    ]);
    assertUserError(n99, '--label 99', /99/);
    assertUserError(name, '--label hexagon', /hexagon/);
    assertUserError(
      await cli(['sample', dir, '--prompt', 'a red circle']),
      '--prompt on a label-conditional model',
      /not text-conditional/,
    );
  });

  test('e2e: text-conditional VAE samples by --prompt; unknown words and --label are user errors', async () => {
    const { dir } = await textRun();
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.equal(cfg.config.model.cond.kind, 'text');
    assert.ok(cfg.dataInfo.vocabulary.includes('circle'), 'vocabulary saved with the run');
    const [one, two] = [path.join(TMP, 'text-one.png'), path.join(TMP, 'text-two.png')];
    await Promise.all([
      ok(['sample', dir, '--prompt', 'a small red circle at the top left', '--n', '4', '--out', one]),
      ok(['sample', dir, '--prompt', 'a large blue square', '--prompt', 'a green triangle', '--n', '4', '--out', two]),
    ]);
    assert.ok(isPng(one) && isPng(two));
    const [pink, label] = await Promise.all([
      cli(['sample', dir, '--prompt', 'a pink circle']),
      cli(['sample', dir, '--label', '0']),
    ]);
    assertUserError(
      pink,
      '--prompt with an unknown word',
      /"pink" is not in this model's vocabulary; known words: a, /,
    );
    assertUserError(label, '--label on a text-conditional model', /not label-conditional/);
  });

  test('e2e: a subword (bpe) text VAE keeps its merges in config.json and samples prompts with unseen words', async () => {
    const { dir } = await trainInto('text-bpe', [
      'train',
      'vae',
      ...TINY,
      '--set',
      'model.cond.kind=text',
      '--set',
      'model.cond.tokenizer=bpe',
      '--set',
      'model.cond.dim=16',
    ]);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.equal(cfg.config.model.cond.tokenizer, 'bpe');
    const merges: string[] = cfg.dataInfo.merges;
    assert.ok(merges.length > 0 && merges.every((m) => /^[^ ]+ [^ ]+$/.test(m)), 'merges saved with the run');
    const out = path.join(TMP, 'text-bpe.png');
    await ok([
      'sample',
      dir,
      '--prompt',
      'a big purplish square',
      '--prompt',
      'a red circle',
      '--n',
      '4',
      '--out',
      out,
    ]);
    assert.ok(isPng(out));
    const long = await cli(['sample', dir, '--prompt', 'purplish '.repeat(20)]);
    assertUserError(long, 'an over-long prompt', /subword tokens \(20 words\); this model reads at most 16/);
  });

  // ---------------------------------------------------------------- 3. train writes a complete run folder
  test('e2e: train vae on shapes writes a complete run folder', async () => {
    const { dir, files, result } = await vaeRun();
    for (const f of [
      'config.json',
      'model.safetensors',
      'optimizer.safetensors',
      'state.json',
      'metrics.jsonl',
      'samples.png',
      'reconstructions.png',
      'loss-curve.svg',
      'eval.json',
    ]) {
      assert.ok(files.has(f), `${f} missing from ${dir} (has ${[...files.keys()].join(', ')})`);
    }
    for (const [f, b] of files)
      if (f.endsWith('.png')) assert.ok(b.subarray(0, 8).equals(PNG_SIGNATURE), `${f}: PNG signature`);

    const config = JSON.parse(files.get('config.json')!.toString('utf8'));
    assert.equal(config.family, 'vae');
    assert.equal(config.config.model.latent, 4);
    assert.deepEqual(config.config.model.hidden, [64]);
    assert.equal(config.config.data.dataset, 'shapes');
    assert.equal(config.config.train.steps, 20);

    const state = JSON.parse(files.get('state.json')!.toString('utf8'));
    assert.equal(state.step, 20);

    const lines = files
      .get('metrics.jsonl')!
      .toString('utf8')
      .split('\n')
      .filter((l) => l.trim());
    const rows = lines.map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        assert.fail(`metrics.jsonl line ${i + 1} is not JSON: ${l}`);
      }
    });
    assert.deepEqual(
      rows.map((r) => r.step),
      [5, 10, 15, 20],
      'one metrics line every 5 steps (--log-every 5)',
    );
    for (const r of rows)
      for (const k of ['loss', 'recon', 'kl']) assert.ok(Number.isFinite(r[k]), `metrics step ${r.step}: ${k}=${r[k]}`);

    assert.match(files.get('loss-curve.svg')!.toString('utf8'), /<svg[\s>]/);
    const ev = JSON.parse(files.get('eval.json')!.toString('utf8'));
    assert.equal(ev.likelihood.name, '-ELBO');
    for (const v of [ev.likelihood.nats, ev.terms.recon, ev.terms.kl])
      assert.ok(Number.isFinite(v), `eval.json ${JSON.stringify(ev)}`);
    assert.ok(!result.stderr.includes('    at '));
    assert.ok(
      floatTensors(path.join(dir, 'model.safetensors'))['encoder.fc1.weight'],
      'model.safetensors decodes and holds the encoder',
    );
  });

  test('e2e: training again into the same --out without --resume exits 2 and mentions --resume', async () => {
    const { dir, files } = await vaeRun();
    const r = await cli(['train', 'vae', ...TINY, '--out', dir]);
    assertUserError(r, 'train into an existing run', /--resume/);
    assert.ok(
      fs.readFileSync(path.join(dir, 'model.safetensors')).equals(files.get('model.safetensors')!),
      'the existing checkpoint is untouched',
    );
  });

  // ---------------------------------------------------------------- 4. sampling is seeded
  test('e2e: sample with the same seed is byte-identical, another seed differs', async () => {
    const { dir } = await vaeRun();
    const [a, b, c] = ['s3a.png', 's3b.png', 's4.png'].map((f) => path.join(TMP, f));
    const rs = await Promise.all([
      ok(['sample', dir, '--seed', '3', '--n', '16', '--out', a]),
      ok(['sample', dir, '--seed', '3', '--n', '16', '--out', b]),
      ok(['sample', dir, '--seed', '4', '--n', '16', '--out', c]),
    ]);
    assert.match(rs[0].stdout, /16 samples/);
    for (const f of [a, b, c]) assert.ok(isPng(f), `${f} is a PNG`);
    assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), 'same seed, same bytes');
    assert.ok(!fs.readFileSync(a).equals(fs.readFileSync(c)), 'different seed, different image');
  });

  // ---------------------------------------------------------------- 5. eval
  test('e2e: eval --iwae 5 --n 32 --json prints the bounds and writes RUN/eval.json', async () => {
    const { dir } = await vaeRun();
    const r = await ok(['eval', dir, '--iwae', '5', '--n', '32', '--json']);
    let res: Record<string, unknown>;
    try {
      res = JSON.parse(r.stdout);
    } catch {
      assert.fail(`eval --json stdout is not JSON:\n${r.stdout}`);
    }
    type Fig = { nats: number; bitsPerDim: number; name: string; samples?: number };
    const iw = res.likelihood as Fig,
      [nelbo] = res.bounds as Fig[],
      terms = res.terms as Record<string, number>;
    for (const v of [iw.nats, nelbo.nats, nelbo.bitsPerDim, terms.recon, terms.kl])
      assert.ok(Number.isFinite(v), JSON.stringify(res));
    assert.equal(res.n, 32);
    assert.deepEqual([iw.name, iw.samples, nelbo.name], ['IWAE k=5', 5, '-ELBO']);
    assert.ok(Math.abs(nelbo.nats - (terms.recon + terms.kl)) < 1e-3 * Math.abs(nelbo.nats), 'nelbo = recon + kl');
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'eval.json'), 'utf8'));
    assert.deepEqual(written, res, 'eval.json holds what was printed');
  });

  // ---------------------------------------------------------------- 6. resume
  test('e2e: --stop-at then --resume matches an uninterrupted run', async () => {
    const resumed = path.join(TMP, 'resumed');
    const straight = path.join(TMP, 'straight');
    const common = ['train', 'vae', ...TINY, '--seed', '7', '--log-every', '5'];
    const [, s] = await Promise.all([
      (async () => {
        await ok([...common, '--stop-at', '10', '--checkpoint-every', '5', '--out', resumed]);
        const mid = JSON.parse(fs.readFileSync(path.join(resumed, 'state.json'), 'utf8'));
        assert.equal(mid.step, 10, 'stopped at step 10');
        assert.ok(!fs.existsSync(path.join(resumed, 'samples.png')), 'no final pictures before the end');
        const r = await ok(['train', '--resume', '--out', resumed, '--backend', 'auto', '--quiet']);
        assert.match(r.stderr, /Resuming vae from step 10/);
      })(),
      ok([...common, '--out', straight]),
    ]);
    assert.ok(s);
    for (const dir of [resumed, straight])
      assert.equal(
        JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')).step,
        20,
        `${dir}: state.json step`,
      );
    assertTensorsClose(path.join(resumed, 'model.safetensors'), path.join(straight, 'model.safetensors'), 1e-5);
    assertTensorsClose(path.join(resumed, 'optimizer.safetensors'), path.join(straight, 'optimizer.safetensors'), 1e-5);
    const steps = fs
      .readFileSync(path.join(resumed, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).step);
    assert.deepEqual(steps, [5, 10, 15, 20], 'resumed metrics.jsonl has each step once');
    assert.ok(isPng(path.join(resumed, 'samples.png')), 'final pictures after the resumed run');
  });

  // ---------------------------------------------------------------- 7. conditional VAE, datasets
  test('e2e: conditional VAE samples by class name or index, identically', async () => {
    const { dir } = await condRun();
    const [byName, byIndex] = [path.join(TMP, 'cond-circle.png'), path.join(TMP, 'cond-0.png')];
    await Promise.all([
      ok(['sample', dir, '--label', 'circle', '--seed', '5', '--n', '8', '--out', byName]),
      ok(['sample', dir, '--label', '0', '--seed', '5', '--n', '8', '--out', byIndex]),
    ]);
    assert.ok(isPng(byName));
    assert.ok(fs.readFileSync(byName).equals(fs.readFileSync(byIndex)), '--label circle == --label 0');
    const all = path.join(TMP, 'cond-all.png');
    await ok(['sample', dir, '--n', '10', '--out', all]);
    assert.ok(isPng(all), 'every class in turn without --label');
  });

  test('datasets lists fashion-mnist and shapes (text and --json)', async () => {
    const [text, json] = await Promise.all([ok(['datasets']), ok(['datasets', '--json'])]);
    assert.match(text.stdout, /^fashion-mnist\s/m);
    assert.match(text.stdout, /^shapes\s/m);
    const list = JSON.parse(json.stdout) as { name: string; available: boolean }[];
    const names = list.map((d) => d.name);
    assert.ok(names.includes('fashion-mnist') && names.includes('shapes'), names.join(', '));
    assert.equal(list.find((d) => d.name === 'shapes')!.available, true);
    assert.equal(list.find((d) => d.name === 'fashion-mnist')!.available, fs.existsSync(FASHION_DIR));
  });

  // ---------------------------------------------------------------- 8. interpolate, pictures
  test('e2e: interpolate and pictures write PNGs; an out-of-range index exits 2', async () => {
    const { dir } = await vaeRun();
    const interp = path.join(TMP, 'interp.png');
    const picsDir = path.join(TMP, 'pics');
    const [, pics, bad] = await Promise.all([
      ok(['interpolate', dir, '--a', '0', '--b', '1', '--steps', '5', '--out', interp]),
      ok(['pictures', dir, '--out', picsDir]),
      cli(['interpolate', dir, '--a', '100000']),
    ]);
    assert.ok(isPng(interp));
    const written = fs.readdirSync(picsDir).filter((f) => f.endsWith('.png'));
    assert.ok(written.includes('reconstructions.png'), written.join(', '));
    for (const f of written) assert.ok(isPng(path.join(picsDir, f)), f);
    assert.match(pics.stdout, /reconstructions\.png/);
    assertUserError(bad, 'interpolate --a 100000', /100000/);
  });

  // ---------------------------------------------------------------- 9. AE
  test('e2e: ae with a 2-d latent writes manifold.png and eval prints a reconstruction number', async () => {
    const { dir, files } = await aeRun();
    assert.ok(files.has('manifold.png'), `manifold.png missing (has ${[...files.keys()].join(', ')})`);
    assert.ok(files.get('manifold.png')!.subarray(0, 8).equals(PNG_SIGNATURE));
    assert.equal(JSON.parse(files.get('config.json')!.toString('utf8')).family, 'ae');
    const r = await ok(['eval', dir]);
    const m = /reconstruction -log p\(x\|z\)\s+(-?\d+(?:\.\d+)?)/.exec(r.stdout);
    assert.ok(m, `no reconstruction number in:\n${r.stdout}`);
    assert.ok(Number.isFinite(Number(m[1])) && Number(m[1]) > 0);
  });

  test('e2e: ae sampling uses code statistics fitted to training codes', async () => {
    const { dir } = await aeRun();
    const t = floatTensors(path.join(dir, 'model.safetensors'));
    const mean = Array.from(t['codeStats.mean'].data);
    const std = Array.from(t['codeStats.std'].data);
    assert.ok(
      !(mean.every((v) => v === 0) && std.every((v) => v === 1)),
      `codeStats never fitted: mean ${mean}, std ${std}`,
    );
  });

  // ---------------------------------------------------------------- fashion-mnist (installed here and in CI)
  test('e2e: fashion-mnist tiny conditional run samples by class name', async () => {
    const dir = path.join(TMP, 'fmnist');
    await ok(['train', 'vae', ...FASHION_TINY, '--conditional', '--out', dir]);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.equal(cfg.dataInfo.height, 28);
    assert.equal(cfg.dataInfo.numClasses, 10);
    const out = path.join(TMP, 'fm-bag.png');
    await ok(['sample', dir, '--label', 'bag', '--n', '4', '--out', out]);
    assert.ok(isPng(out));
    assertUserError(await cli(['sample', dir, '--label', '10']), 'fashion --label 10', /10 classes/);
  });
});
