// sampleAsync, the step-wise samplers run asynchronously (as the playground runs them on WebGPU): for every family
// that has it, the same samples as sample(), the same live frames and pixels, no tensor leak, and a failed read mid-way
// frees what the loop holds (tensor/steps.ts).
import '../helpers/backend.ts';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Family, GenerativeModel, SampleOptions } from '../../src/core/family.ts';
import { registry } from '../../src/core/registry.ts';
import { runAsync, runSync, type Steps } from '../../src/core/tensor/steps.ts';
import { tinyModel, tinyShapes } from '../helpers/tiny-model.ts';

const { info } = tinyShapes(4);

const tiny = (name: string, over: Record<string, unknown> = {}): GenerativeModel =>
  tinyModel(registry[name as keyof typeof registry] as unknown as Family<unknown>, info, over, 5);

describe('sampleAsync', () => {
  const withAsync = Object.keys(registry).filter((name) => {
    const m = tiny(name);
    const has = typeof m.sampleAsync === 'function';
    m.dispose();
    return has;
  });

  test('the step-wise families have it (diffusion, pixelcnn, igpt)', () => {
    assert.deepEqual(withAsync.sort(), ['diffusion', 'igpt', 'pixelcnn']);
  });

  for (const name of ['diffusion', 'pixelcnn', 'igpt'])
    test(`${name}: the same samples, frames and pixels as sample(), with guidance and no leak`, async () => {
      const m = tiny(name, { cond: { kind: 'label' } });
      const seen = () => {
        const log: string[] = [];
        const opts: SampleOptions = {
          labels: [2, 0],
          guidance: 2,
          onFrame: (x, step, total) => log.push(`frame ${step}/${total} ${Array.from(x.dataSync().slice(0, 3))}`),
          onPixel: (p) => log.push(`pixel ${p.row},${p.col},${p.channel} ${p.drawn} ${p.probs[0]}`),
        };
        return { log, opts };
      };
      const a = seen();
      const b = seen();
      const sync = m.sample(3, 11, a.opts);
      const before = tf.memory().numTensors;
      const asyncX = await m.sampleAsync!(3, 11, b.opts);
      assert.equal(tf.memory().numTensors, before + 1, 'sampleAsync leaves only its result');
      assert.deepEqual(Array.from(asyncX.dataSync()), Array.from(sync.dataSync()));
      assert.ok(a.log.length > 3, 'the listeners were called');
      assert.deepEqual(b.log, a.log);
      tf.dispose([sync, asyncX]);
      m.dispose();
    });
});

describe('steps runners', () => {
  /** A loop holding one tensor, reading two others. */
  function* loop(held: tf.Tensor[]): Steps<number> {
    const h = tf.ones([2]);
    held.push(h);
    try {
      const a = tf.scalar(3);
      let v: number;
      try {
        v = ((yield a) as Float32Array)[0];
      } finally {
        a.dispose();
      }
      yield null;
      const b = tf.scalar(4);
      try {
        v += ((yield b) as Float32Array)[0];
      } finally {
        b.dispose();
      }
      return v;
    } finally {
      h.dispose();
    }
  }

  test('runSync and runAsync give the loop the values it yields for', async () => {
    const n0 = tf.memory().numTensors;
    assert.equal(runSync(loop([])), 7);
    let pauses = 0;
    assert.equal(await runAsync(loop([]), async () => void pauses++), 7);
    assert.equal(pauses, 1);
    assert.equal(tf.memory().numTensors, n0);
  });

  test('a read that fails is thrown into the loop, which frees what it holds', async () => {
    function* failing(): Steps<number> {
      const h = tf.ones([2]);
      try {
        const a = tf.scalar(3);
        a.dispose();
        yield a; // reading a disposed tensor throws
        return 1;
      } finally {
        h.dispose();
      }
    }
    const n0 = tf.memory().numTensors;
    assert.throws(() => runSync(failing()), /disposed/);
    await assert.rejects(runAsync(failing()), /disposed/);
    assert.equal(tf.memory().numTensors, n0);
  });
});
