// Tests for the loss-curve SVG: structure, robustness to NaN/Inf, single points, log axis, smoothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossCurveSvg } from '../../src/core/viz/loss-curve.ts';

/** Tags balance (a small stack check, enough to catch broken markup). */
function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith('<svg '), 'starts with <svg');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)([^>]*?)(\/?)>/g)) {
    const [, close, name, attrs, self] = m;
    assert.ok(!attrs.includes('<'), `stray < in ${m[0]}`);
    if (self) continue;
    if (close) assert.equal(stack.pop(), name, `closing ${name}`);
    else stack.push(name);
  }
  assert.deepEqual(stack, []);
  const text = svg.replace(/<[^>]*>/g, '');
  assert.ok(!/[<>]/.test(text), 'no raw < or > in text');
  assert.ok(!/&(?!amp;|lt;|gt;|quot;|#39;)/.test(svg), 'entities are escaped');
}

const paths = (svg: string) => svg.match(/<path /g)?.length ?? 0;

test('two series: axes, numbered ticks, legend, a path per series', () => {
  const loss = Array.from({ length: 200 }, (_, i) => [i * 10, 2 / (1 + i / 20)] as [number, number]);
  const val = Array.from({ length: 20 }, (_, i) => [i * 100, 2.2 / (1 + i / 2)] as [number, number]);
  const svg = lossCurveSvg(
    [
      { name: 'train', points: loss },
      { name: 'val <ema> & co', points: val },
    ],
    { title: 'VAE loss', xLabel: 'step', yLabel: 'nats' },
  );
  assertWellFormed(svg);
  assert.equal(paths(svg), 2);
  assert.match(svg, />VAE loss</);
  assert.match(svg, />step</);
  assert.match(svg, />train</);
  assert.match(svg, /val &lt;ema&gt; &amp; co/);
  assert.match(svg, />1000</, 'x tick label');
  assert.match(svg, />0\.5</, 'y tick label');
  assert.ok(!svg.includes('NaN') && !svg.includes('Infinity'));
});

test('NaN and Inf points are skipped; a single point and an all-NaN series still render', () => {
  const svg = lossCurveSvg([
    {
      name: 'a',
      points: [
        [0, 1],
        [1, NaN],
        [2, Infinity],
        [NaN, 3],
        [3, 0.5],
      ],
    },
    { name: 'one', points: [[5, 0.7]] },
    { name: 'none', points: [[1, NaN]] },
  ]);
  assertWellFormed(svg);
  assert.ok(!svg.includes('NaN') && !svg.includes('Infinity'));
  assert.equal(paths(svg), 2);
  assert.match(svg, /none \(no finite points\)/);
  const only = lossCurveSvg([{ name: 'x', points: [[3, 2]] }]);
  assertWellFormed(only);
  assert.equal(paths(only), 1);
  assert.ok(!only.includes('NaN'));
  const empty = lossCurveSvg([]);
  assertWellFormed(empty);
  assert.match(empty, /no finite data/);
});

test('log scale drops non-positive values and labels decades', () => {
  const pts = Array.from({ length: 50 }, (_, i) => [i, 10 ** (1 - i / 10)] as [number, number]);
  pts.push([50, 0], [51, -1]);
  const svg = lossCurveSvg([{ name: 'kl', points: pts }], { logY: true });
  assertWellFormed(svg);
  assert.ok(!svg.includes('NaN'));
  for (const label of ['0.01', '0.1', '1', '10']) assert.match(svg, new RegExp(`>${label.replace('.', '\\.')}</text>`));
  // Narrow range on a log axis still gets ticks.
  const narrow = lossCurveSvg(
    [
      {
        name: 'n',
        points: [
          [0, 1.01],
          [1, 1.02],
        ],
      },
    ],
    { logY: true },
  );
  assertWellFormed(narrow);
  assert.ok((narrow.match(/text-anchor="end"/g)?.length ?? 0) >= 2);
});

test('smoothing adds a faint raw line under the smoothed one; long series stay small', () => {
  const noisy = Array.from({ length: 100 }, (_, i) => [i, 1 + (i % 2 ? 0.5 : -0.5)] as [number, number]);
  const svg = lossCurveSvg([{ name: 'noisy', points: noisy }], { smooth: 10 });
  assertWellFormed(svg);
  assert.equal(paths(svg), 2);
  assert.match(svg, /stroke-opacity="0.25"/);

  const long = Array.from({ length: 200_000 }, (_, i) => [i, Math.sin(i / 1000) + 2] as [number, number]);
  const big = lossCurveSvg([{ name: 'long', points: long }]);
  assertWellFormed(big);
  assert.ok(big.length < 200_000, `svg is ${big.length} chars`);
});
