// One damaged run among runs/* (issue 19, item 9): `deepgen leaderboard` and `deepgen serve` skip it with a one-line
// warning naming the damage and go on with the others; the same run given alone stays a one-line error (exit 2).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.ts';
import { startServe } from '../helpers/browser.ts';
import { makeFakeRun } from '../helpers/fake-run.ts';
import { request } from '../helpers/http.ts';

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-run-listing-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const RUNS = path.join(TMP, 'runs');

makeFakeRun(RUNS, 'gan', 'gan');
makeFakeRun(RUNS, 'pix', 'pixelcnn', { n: 100, bitsPerDim: 3.1 });
/** Run folders whose config.json cannot be read, and the words of each one's warning. */
const DAMAGED: Record<string, RegExp> = {
  badjson: /config\.json in runs\/badjson is not valid JSON/,
  empty: /config\.json in runs\/empty is not valid JSON/,
  foreign: /config\.json in runs\/foreign was not written by deepgen/,
  cfgdir: /Cannot read checkpoint config at runs\/cfgdir\/config\.json: it is a folder/,
  nofamily: /config\.json in runs\/nofamily has no model family/,
};
for (const name of Object.keys(DAMAGED)) fs.mkdirSync(path.join(RUNS, name), { recursive: true });
fs.writeFileSync(path.join(RUNS, 'badjson', 'config.json'), '{"family": "vae", ');
fs.writeFileSync(path.join(RUNS, 'empty', 'config.json'), '');
fs.writeFileSync(
  path.join(RUNS, 'foreign', 'config.json'),
  JSON.stringify({ family: 'vae', formatVersion: 1, createdBy: 'someone', config: {} }),
);
fs.mkdirSync(path.join(RUNS, 'cfgdir', 'config.json'));
fs.writeFileSync(
  path.join(RUNS, 'nofamily', 'config.json'),
  JSON.stringify({ formatVersion: 1, createdBy: 'deepgen', config: {} }),
);
// readable config, every other file damaged: listed, with notes
const odd = makeFakeRun(RUNS, 'odd', 'flow');
fs.writeFileSync(path.join(odd, 'state.json'), 'garbage');
fs.writeFileSync(path.join(odd, 'model.safetensors'), Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 1]));
fs.mkdirSync(path.join(odd, 'eval.json'));
fs.writeFileSync(path.join(odd, 'cond-eval.json'), '[1, 2]');

/** Each damaged run is warned about once, in one line; nothing else goes to stderr. */
function assertWarnings(stderr: string): void {
  const lines = stderr.trim().split('\n');
  for (const [name, words] of Object.entries(DAMAGED)) {
    const w = lines.filter((l) => l.startsWith(`deepgen: warning: skipped runs/${name}: `));
    assert.equal(w.length, 1, `one warning for ${name} in:\n${stderr}`);
    assert.match(w[0], words);
  }
  assert.equal(lines.length, Object.keys(DAMAGED).length, `only the warnings:\n${stderr}`);
}

test('leaderboard runs/*: damaged runs are skipped with a warning each, the others are listed', async () => {
  for (const args of [
    ['runs/*'],
    fs
      .readdirSync(RUNS)
      .sort()
      .map((n) => `runs/${n}`),
  ]) {
    const r = await runCli(['leaderboard', ...args, '--json'], { cwd: TMP });
    assert.equal(r.code, 0, r.stderr);
    assertWarnings(r.stderr);
    const rows = JSON.parse(r.stdout).rows as { run: string; notes: string[] }[];
    assert.deepEqual(rows.map((x) => x.run).sort(), ['runs/gan', 'runs/odd', 'runs/pix']);
    assert.match(
      rows.find((x) => x.run === 'runs/odd')!.notes.join('; '),
      /state\.json .*not valid JSON.*; .*safetensors/,
    );
  }
});

test('a damaged run given alone is a one-line error; when none is readable, one line says so', async () => {
  const alone = await runCli(['leaderboard', 'runs/badjson'], { cwd: TMP });
  assert.equal(alone.code, 2);
  assert.match(
    alone.stderr,
    /^deepgen: error: config\.json in runs\/badjson is not valid JSON .*restore it or train again\n$/,
  );
  const none = await runCli(['leaderboard', 'runs/badjson', 'runs/cfgdir'], { cwd: TMP });
  assert.equal(none.code, 2);
  assert.match(
    none.stderr.trim().split('\n').at(-1)!,
    /^deepgen: error: No readable run folders among runs\/badjson runs\/cfgdir; the warnings above say what is wrong with each$/,
  );
});

test('serve runs/*: damaged runs are skipped with a warning each, the others are served', async () => {
  const { server, base, output } = await startServe(['runs/*'], { cwd: TMP });
  try {
    const list = JSON.parse((await request(Number(new URL(base).port), '/api/runs')).body.toString()).runs as {
      id: string;
    }[];
    assert.deepEqual(list.map((r) => r.id).sort(), ['gan', 'odd', 'pix']);
    const stderr = output()
      .split('\n')
      .filter((l) => !l.startsWith('Serving ') && !l.includes('playground is not built'))
      .join('\n');
    assertWarnings(stderr);
    assert.match(output(), /Serving 3 models/);
  } finally {
    server.kill();
  }
});
