// A real distributed run: a diffusion model exported with its data trains a few steps with DistributedDataParallel on 2
// processes over gloo (torch.multiprocessing, and the environment torchrun sets), resumes, comes back with deepgen
// import, and deepgen sample and eval draw from it. Needs python3-torch (CI sets DEEPGEN_REQUIRE_TORCH=1).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { trainTinyRun } from '../helpers/tiny-run.ts';
import { readFloats } from '../helpers/checkpoint-files.ts';
import { assertUserError, runCli } from '../helpers/cli.ts';
import { PYTHON, torchMissing } from '../helpers/torch.ts';

const missing = torchMissing();

function python(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const state = (dir: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as Record<string, number>;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

describe('DistributedDataParallel on the exported diffusion model', { skip: missing ?? false }, () => {
  let root: string, run: string, pt: string;
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-ddp-'));
    run = await trainTinyRun('diffusion', path.join(root, 'run'), {
      steps: 2,
      model: { cond: { kind: 'label' } },
      train: { ema: 0.9 },
    });
    pt = path.join(root, 'pt');
    const r = await runCli(['export', run, '--to', 'pytorch', pt, '--data'], { cwd: root });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('2 processes over gloo (torch.multiprocessing) train, resume, import, and deepgen samples and evaluates', async () => {
    const ck = path.join(pt, 'checkpoint');
    const r = python([
      path.join(pt, 'train.py'),
      '--steps',
      '4',
      '--batch-size',
      '8',
      '--nproc',
      '2',
      '--log-every',
      '2',
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /step 4\/4 loss [\d.]+ .* \(2 processes\)/);
    assert.deepEqual([state(ck).step, state(ck).processes], [4, 2]);
    // the weights moved away from the exported ones, and every parameter is in the checkpoint
    const before = readFloats(path.join(pt, 'weights.safetensors'));
    const after = readFloats(path.join(ck, 'weights.safetensors'));
    assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
    assert.ok(
      Object.keys(after).some((k) => after[k].data.some((v, i) => v !== before[k].data[i])),
      'no weight changed',
    );
    // started again, it resumes at step 4
    const again = python([path.join(pt, 'train.py'), '--steps', '6', '--batch-size', '8', '--log-every', '1']);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /step 5\/6/);
    assert.equal(state(ck).step, 6);
    const back = path.join(root, 'back');
    const imp = await runCli(['import', pt, '--out', back], { cwd: root });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /step 6, with its EMA weights/);
    const s = await runCli(['sample', back, '--n', '4', '--label', '2', '--steps', '4'], { cwd: root });
    assert.equal(s.code, 0, s.stderr);
    assert.ok(fs.existsSync(path.join(back, 'samples-seed0.png')));
    const e = await runCli(['eval', back, '--metrics', 'nll'], { cwd: root });
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout, /bits\/dim/);
    // Adam's moments came back too: deepgen continues the run PyTorch trained
    assert.ok(fs.existsSync(path.join(back, 'optimizer.safetensors')));
    const resumed = await runCli(['train', '--resume', '--out', back, '--steps', '8'], { cwd: root });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(state(back).step, 8);
    // exporting again over the trained package would leave its checkpoint for train.py to resume: refused
    assertUserError(
      await runCli(['export', run, '--to', 'pytorch', pt], { cwd: root }),
      /holds a checkpoint train\.py wrote/,
    );
  });

  test("torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR/PORT): 2 processes rendezvous and train", async () => {
    const out = path.join(root, 'torchrun');
    const port = String(await freePort());
    const procs = [0, 1].map(
      (rank) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const env = {
            ...process.env,
            RANK: String(rank),
            LOCAL_RANK: String(rank),
            WORLD_SIZE: '2',
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: port,
          };
          const p = spawn(PYTHON, [path.join(pt, 'train.py'), '--steps', '2', '--batch-size', '8', '--out', out], {
            env,
          });
          let text = '';
          p.stdout.on('data', (d) => (text += d));
          p.stderr.on('data', (d) => (text += d));
          p.on('close', (code) => resolve({ code, out: text }));
        }),
    );
    const results = await Promise.all(procs);
    for (const r of results) assert.equal(r.code, 0, r.out);
    assert.deepEqual([state(out).step, state(out).processes], [2, 2]);
  });
});
