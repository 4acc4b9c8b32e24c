// Fuzzing the config parsers: checkpoint config.json text, --config files and --set strings either resolve to a valid
// config or fail as one-line UserErrors; never another error, and never a change to Object.prototype (pollution).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseCheckpointConfig } from '../../src/core/checkpoint/format.ts';
import { resolveCheckpointConfig } from '../../src/core/checkpoint/load-model.ts';
import { MAX_IMAGE_SIDE } from '../../src/core/checkpoint/data-info.ts';
import { resolveRunConfig } from '../../src/core/config/run-config.ts';
import { registry } from '../../src/core/registry.ts';
import { readConfigFile } from '../../src/node/run-config.ts';
import { userError } from '../helpers/assert.ts';
import { fuzz, loadsOrUserError, mutatedJson, peakRssMiB } from '../helpers/fuzz.ts';

const MEMORY_MIB = 128;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepgen-fuzz-config-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const families = Object.keys(registry) as (keyof typeof registry)[];
const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort().join(',');
const cleanPrototype = prototypeKeys();

/** Fails when anything was added to Object.prototype (a polluting parser changes every object of the process). */
function assertNoPollution(describe: () => string): void {
  assert.equal(prototypeKeys(), cleanPrototype, `Object.prototype changed on ${describe()}`);
}

/** A checkpoint's config.json for each family, as trainRun writes it. */
const configFiles = families.map((family) => ({
  family,
  formatVersion: 1,
  createdBy: 'deepgen',
  config: resolveRunConfig(
    family,
    [{ model: { ...registry[family].tinyPreset }, data: { dataset: 'shapes', size: 16 } }],
    [],
  ),
  dataInfo: {
    height: 16,
    width: 16,
    channels: 3,
    numClasses: 2,
    classNames: ['red circle', 'blue square'],
    vocabulary: ['blue', 'circle', 'red', 'square'],
  },
  params: 1234,
}));

test('fuzz: mutated checkpoint config.json resolves or gives one UserError line', () => {
  const before = peakRssMiB();
  const text = fc.nat({ max: configFiles.length - 1 }).chain((i) => mutatedJson(configFiles[i]));
  fuzz(text, 2500, (t) => {
    const describe = () => t.slice(0, 300);
    const out = loadsOrUserError(
      () => resolveCheckpointConfig(parseCheckpointConfig(t, 'config.json in run'), 'run'),
      describe,
    );
    assertNoPollution(describe);
    if (!out) return;
    assert.ok(Object.hasOwn(registry, out.cfg.family), describe());
    assert.ok(
      out.info.height >= 1 && out.info.height <= MAX_IMAGE_SIDE && [1, 3].includes(out.info.channels),
      describe(),
    );
  });
  assert.ok(peakRssMiB() - before < MEMORY_MIB, `peak memory grew by ${(peakRssMiB() - before).toFixed(0)} MiB`);
});

test('regression (fuzz counterexample): a --config file whose family is an object with a data toString', () => {
  const file = path.join(tmp, 'family-object.json');
  fs.writeFileSync(file, JSON.stringify({ family: { toString: false }, model: {} }));
  userError(
    () => resolveRunConfig('gan', [readConfigFile(file)], [], 'config file'),
    /^Config says family \{"toString":false\} but the command trains "gan"$/,
  );
});

test('fuzz: mutated --config files resolve or give one UserError line', () => {
  const file = path.join(tmp, 'config.json');
  const text = fc.nat({ max: configFiles.length - 1 }).chain((i) => mutatedJson(configFiles[i].config));
  fuzz(fc.record({ text, family: fc.constantFrom(...families) }), 1500, ({ text: t, family }) => {
    fs.writeFileSync(file, t);
    const describe = () => `${family}: ${t.slice(0, 300)}`;
    loadsOrUserError(() => resolveRunConfig(family, [readConfigFile(file)], [], 'config file'), describe);
    assertNoPollution(describe);
  });
});

// --set key=value: dotted paths over real keys, prototype keys and junk; values as JSON or bare strings.
const KEYS = [
  'model',
  'data',
  'train',
  'latent',
  'hidden',
  'cond',
  'kind',
  'seed',
  'epochs',
  'dataset',
  'size',
  'testSeed',
  'maxImagePixels',
  'family',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
];
const setString = fc
  .record({
    keys: fc.array(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 5 })), { minLength: 1, maxLength: 4 }),
    eq: fc.constantFrom('=', '=', '', '=='),
    value: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? ''),
      fc.string({ maxLength: 8 }),
      fc.constantFrom('1e9', '4294967296', '-1', 'NaN', '{"__proto__":{"x":1}}', '[1e9,1e9]', 'null'),
    ),
  })
  .map(({ keys, eq, value }) => `${keys.join('.')}${eq}${value}`);

test('fuzz: --set strings resolve or give one UserError line, and never touch Object.prototype', () => {
  const family = fc.oneof(
    fc.constantFrom(...families),
    fc.constantFrom('__proto__', 'toString', 'constructor', 'VAE', ''),
  );
  fuzz(
    fc.record({ family, sets: fc.array(setString, { minLength: 1, maxLength: 4 }) }),
    4000,
    ({ family: f, sets }) => {
      const describe = () => `${f} --set ${sets.map((s) => JSON.stringify(s)).join(' --set ')}`;
      const cfg = loadsOrUserError(() => resolveRunConfig(f, [], sets), describe);
      assertNoPollution(describe);
      if (cfg)
        assert.ok(
          Object.hasOwn(registry, cfg.family) &&
            Number.isInteger(cfg.train.seed) &&
            cfg.train.seed >= 0 &&
            cfg.train.seed <= 0xffffffff,
          describe(),
        );
    },
  );
});
