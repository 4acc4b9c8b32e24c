// defineFamily() derives a family's model defaults and its label/caption needs from the model schema; condKindOf()
// reads a run config's conditioning kind, 'none' when the model has no cond section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineFamily } from '../../src/core/family.ts';
import { condKindOf, condKindOfModel, condSchema } from '../../src/core/conditioning/config.ts';
import { registry } from '../../src/core/registry.ts';
import { resolveRunConfig } from '../../src/core/config/run-config.ts';

const schema = z.object({ width: z.number().default(8), cond: condSchema.prefault({}) }).strict();
const spec = {
  name: 'toy',
  summary: 'a toy family',
  modelSchema: schema,
  tinyPreset: { width: 2 },
  defaults: { data: { dataset: 'shapes' }, train: { epochs: 1 } },
  create: () => {
    throw new Error('not used');
  },
};

test('defineFamily: model defaults from the schema, needsLabels/needsCaptions from cond.kind, overrides win', () => {
  const fam = defineFamily(spec);
  assert.deepEqual(fam.defaults.model, schema.parse({}));
  assert.deepEqual(fam.defaults.data, { dataset: 'shapes' });
  const cfg = (kind: 'none' | 'label' | 'text') => schema.parse({ cond: { kind } });
  assert.deepEqual(
    [fam.needsLabels(cfg('none')), fam.needsLabels(cfg('label')), fam.needsLabels(cfg('text'))],
    [false, true, false],
  );
  assert.deepEqual(
    [fam.needsCaptions!(cfg('none')), fam.needsCaptions!(cfg('label')), fam.needsCaptions!(cfg('text'))],
    [false, false, true],
  );
  const always = defineFamily({ ...spec, needsLabels: () => true });
  assert.equal(always.needsLabels(cfg('none')), true);
  // every registered family is defined this way: its model defaults are the schema's
  for (const f of Object.values(registry))
    assert.deepEqual(f.defaults.model, (f.modelSchema as z.ZodType).parse({}), f.name);
});

test("condKindOf: the run config's model.cond.kind, or none", () => {
  for (const kind of ['none', 'label', 'text'] as const) {
    const cfg = resolveRunConfig('vae', [{ model: { cond: { kind, textHeads: 2 } } }], []);
    assert.equal(condKindOf(cfg), kind);
  }
  assert.equal(condKindOf({ model: {} }), 'none');
  assert.equal(condKindOf({ model: { cond: { kind: 'bogus' } } }), 'none');
  assert.equal(condKindOfModel(null), 'none');
});
