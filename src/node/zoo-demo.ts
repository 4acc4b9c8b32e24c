// `deepgen demo`: one picture per zoo model, drawn now from the shipped weights (a prompt grid from text models, a
// column per class from label models), the one-shot baseline beside a sampling model on the same prompts, and an
// index.html that shows them with each model's figures. Pictures are chosen by capability, never by family name.
import fs from 'node:fs';
import path from 'node:path';
import { Model } from '../core/api/model.ts';
import { sliceImages, type Images } from '../core/api/images.ts';
import { getFamily } from '../core/registry.ts';
import { upscale, type ImageU8 } from '../core/viz/grid.ts';
import { makeGrid } from '../core/viz/grid.ts';
import { pixelVariance } from '../core/eval/sample-stats.ts';
import { realIndices } from './compare.ts';
import { writeFileAtomic } from './fs-atomic.ts';
import { readModelFolder } from './load-model.ts';
import { ZOO_DIR } from './model-source.ts';
import { EMOJI_EXAMPLE_PROMPTS } from '../core/data/emoji.ts';
import { encodePng } from './png.ts';
import { loadSplit } from './train/prepare.ts';
import { figureLines, headlineFigure, zooEntries, type ZooEntry } from './zoo.ts';

/** Prompts per data set for text-conditional models; the demo says which name a pair held out of training. */
export const DEMO_PROMPTS: Record<string, string[]> = {
  shapes: [
    'a large red circle in the center',
    'a large blue square in the center',
    'a large green triangle in the center',
    'a large yellow cross in the center',
    'a large purple diamond in the center',
  ],
  emoji: [...EMOJI_EXAMPLE_PROMPTS.seen, EMOJI_EXAMPLE_PROMPTS.heldOut[0]],
};

/** Shapes test images generated to find real images of each prompt (0.3 s). */
const SHAPES_TEST_N = 20000;

export interface DemoOptions {
  /** Folder for the pictures and index.html (created). */
  out: string;
  zooDir?: string;
  /** Sampler steps for iterative samplers (default: each model's own). */
  steps?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface DemoPicture {
  model: string;
  file: string;
  title: string;
  caption: string;
  figures: string[];
  /** The one figure to print beside it. */
  headline: string;
  /** The command that draws such samples. */
  command: string;
  seconds: number;
}

export interface DemoResult {
  pictures: DemoPicture[];
  index: string;
  seconds: number;
}

interface Loaded {
  entry: ZooEntry;
  model: Model;
  /** A text model's samples per demo prompt, drawn for its picture and reused by the comparison. */
  byPrompt?: Map<string, Images>;
}

const stack = (imgs: Images[]): Images => {
  const { height, width, channels } = imgs[0];
  const data = new Uint8Array(imgs.reduce((s, x) => s + x.data.length, 0));
  let at = 0;
  for (const x of imgs) {
    data.set(x.data, at);
    at += x.data.length;
  }
  return { n: imgs.reduce((s, x) => s + x.n, 0), height, width, channels, data };
};

/** n images of the same shape from column-major order (cols groups of rows) to row-major (the grid's order). */
function transpose(x: Images, rows: number, cols: number): Images {
  const D = x.height * x.width * x.channels;
  const data = new Uint8Array(x.data.length);
  for (let c = 0; c < cols; c++)
    for (let r = 0; r < rows; r++)
      data.set(x.data.subarray((c * rows + r) * D, (c * rows + r + 1) * D), (r * cols + c) * D);
  return { ...x, data };
}

/** A picture at a size a browser shows well: each image at least ~64 px. */
function picture(x: Images, cols: number): ImageU8 {
  const grid = makeGrid(x.data, x.n, x.height, x.width, x.channels, { cols });
  return upscale(grid, Math.max(1, Math.round(64 / x.height)));
}

/** The samples a model is shown by, chosen by its capabilities. */
async function modelPicture(
  m: Model,
  o: { steps?: number; seed: number },
): Promise<{ images: Images; cols: number; caption: string; args: string; byPrompt?: Map<string, Images> }> {
  const cap = m.capabilities;
  const steps = o.steps !== undefined && cap.samplingOptions.includes('steps') ? { steps: o.steps } : {};
  const slow = cap.generation !== 'one-pass';
  if (cap.conditioning === 'label') {
    const k = cap.classNames?.length ?? m.info.numClasses ?? 10;
    const rows = slow ? 2 : 4;
    const label = Array.from({ length: k * rows }, (_, i) => i % k);
    const { images } = await m.sample({ n: k * rows, seed: o.seed, label, ...steps });
    return {
      images,
      cols: k,
      args: `--label ${JSON.stringify(String(cap.classNames?.[k - 1] ?? k - 1).toLowerCase())} --n 16`,
      caption: `One column per class: ${(cap.classNames ?? []).join(', ')}.`,
    };
  }
  if (cap.conditioning === 'text') {
    const prompts = (DEMO_PROMPTS[m.config.data.dataset] ?? DEMO_PROMPTS.shapes).slice(0, 4);
    const rows = 4;
    // column-major: each prompt's samples together, then laid out one column per prompt
    const prompt = prompts.flatMap((p) => new Array<string>(rows).fill(p));
    const { images } = await m.sample({ n: prompt.length, seed: o.seed, prompt, ...steps });
    const held = heldOutIn(m, prompts);
    const unseen = m.config.data.dataset.startsWith('emoji') ? 'a name' : 'a pair';
    const byPrompt = new Map(prompts.map((p, i) => [p, sliceImages(images, i * rows, rows)]));
    return {
      byPrompt,
      args: `--prompt ${JSON.stringify(prompts[0])} --n 16`,
      images: transpose(images, rows, prompts.length),
      cols: prompts.length,
      caption: `One column per prompt: ${prompts.map((p) => `"${p}"${held.includes(p) ? ` (${unseen} never seen in training)` : ''}`).join(', ')}.`,
    };
  }
  const n = slow ? 16 : 32;
  const { images } = await m.sample({ n, seed: o.seed, ...steps });
  return { images, cols: 8, caption: `${n} samples.`, args: '--n 16' };
}

/** The prompts that name a colour+shape pair (or an emoji) the model was not trained on. */
function heldOutIn(m: Model, prompts: string[]): string[] {
  if (m.config.data.dataset.startsWith('emoji'))
    return prompts.filter((p) => (EMOJI_EXAMPLE_PROMPTS.heldOut as readonly string[]).includes(p));
  const pairs = (m.config.data.holdOut ?? []).map((p) => p.toLowerCase());
  return prompts.filter((p) => pairs.some((pair) => pair.split(/\s+/).every((w) => p.toLowerCase().includes(w))));
}

/** The deterministic one-shot model of the zoo beside a sampling model of the same data and conditioning. */
function comparisonPair(loaded: Loaded[]): [Loaded, Loaded] | null {
  for (const a of loaded) {
    if (!getFamily(a.model.family).deterministic || a.model.capabilities.conditioning !== 'text') continue;
    const b = loaded.find(
      (x) =>
        x !== a &&
        !getFamily(x.model.family).deterministic &&
        x.model.capabilities.conditioning === 'text' &&
        x.model.config.data.dataset === a.model.config.data.dataset &&
        x.model.info.height === a.model.info.height,
    );
    if (b) return [a, b];
  }
  return null;
}

async function comparison(
  [one, gen]: [Loaded, Loaded],
  o: { steps?: number; seed: number },
): Promise<{ images: Images; caption: string; figures: string[] }> {
  const k = 4;
  const prompts = (DEMO_PROMPTS[gen.model.config.data.dataset] ?? DEMO_PROMPTS.shapes).slice(0, 3);
  const cfg = gen.model.config;
  const test = loadSplit({ ...cfg, data: { ...cfg.data, testN: SHAPES_TEST_N, holdOut: [] } }, 'test');
  const D = test.height * test.width * test.channels;
  const steps =
    o.steps !== undefined && gen.model.capabilities.samplingOptions.includes('steps') ? { steps: o.steps } : {};
  const rows: Images[] = [];
  let vOne = 0;
  let vGen = 0;
  for (const p of prompts) {
    const idx = realIndices(test, { name: p, prompt: p }).slice(0, k);
    const real: Images = {
      n: k,
      height: test.height,
      width: test.width,
      channels: test.channels,
      data: new Uint8Array(k * D),
    };
    idx.forEach((j, i) => real.data.set(test.images.subarray(j * D, (j + 1) * D), i * D));
    const a = (await one.model.sample({ n: k, seed: o.seed, prompt: p })).images;
    // the sampling model's own picture drew these prompts already (same seed): reuse them
    const drawn = gen.byPrompt?.get(p);
    const b =
      drawn && drawn.n >= k
        ? sliceImages(drawn, 0, k)
        : (await gen.model.sample({ n: k, seed: o.seed, prompt: p, ...steps })).images;
    vOne += pixelVariance(unit(a), k) / prompts.length;
    vGen += pixelVariance(unit(b), k) / prompts.length;
    rows.push(real, a, b);
  }
  return {
    images: stack(rows),
    caption: `One row per prompt (${prompts.map((p) => `"${p}"`).join(', ')}): ${k} real images with every attribute the prompt names, then ${k} draws of ${one.entry.spec} (one-shot: prompt to pixels, the same image every time), then ${k} samples of ${gen.entry.spec}. The one-shot network learns the average of all right images, so it blurs; the sampler commits to one.`,
    figures: [
      `per-pixel variance across the ${k} draws: one-shot ${vOne.toFixed(4)}, ${gen.model.family} ${vGen.toFixed(4)}`,
    ],
  };
}

/** Pixels in [0, 1], as the sample statistics take them. */
const unit = (x: Images) => Float32Array.from(x.data, (v) => v / 255);

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Draws the zoo's pictures into opts.out and writes index.html; the models are loaded one at a time. */
export async function zooDemo(opts: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const seed = opts.seed ?? 0;
  fs.mkdirSync(opts.out, { recursive: true });
  const entries = zooEntries(opts.zooDir ?? ZOO_DIR);
  const loaded: Loaded[] = [];
  const pictures: DemoPicture[] = [];
  try {
    for (const entry of entries) {
      if (!entry.row) {
        log(`  skipped ${entry.spec}: ${entry.error}`);
        continue;
      }
      const t = performance.now();
      const model = new Model(readModelFolder(entry.dir, true, log).built);
      loaded.push({ entry, model });
      if (getFamily(model.family).deterministic) continue; // shown beside a sampling model below
      const { images, cols, caption, args, byPrompt } = await modelPicture(model, { steps: opts.steps, seed });
      loaded[loaded.length - 1].byPrompt = byPrompt;
      const file = `${entry.name}.png`;
      writeFileAtomic(path.join(opts.out, file), encodePng(picture(images, cols)));
      const seconds = (performance.now() - t) / 1000;
      pictures.push({
        model: entry.spec,
        file,
        title: `${entry.spec}: ${entry.row.family}, ${entry.row.dataset}${entry.row.conditioning !== 'none' ? `, ${entry.row.conditioning}-conditional` : ''}`,
        caption,
        figures: figureLines(entry.row),
        headline: headlineFigure(entry.row),
        command: `npx deepgen sample ${entry.spec} ${args}`,
        seconds,
      });
      log(`  ${file.padEnd(30)} ${seconds.toFixed(1)} s`);
    }
    const pair = comparisonPair(loaded);
    if (pair) {
      const t = performance.now();
      const c = await comparison(pair, { steps: opts.steps, seed });
      const file = 'one-shot-vs-sampling.png';
      writeFileAtomic(path.join(opts.out, file), encodePng(picture(c.images, 12)));
      const seconds = (performance.now() - t) / 1000;
      pictures.push({
        model: `${pair[0].entry.spec} vs ${pair[1].entry.spec}`,
        file,
        title: 'One prompt, many right images: the one-shot baseline against a generative model',
        caption: c.caption,
        figures: [
          ...c.figures,
          ...pair.map((p) => `${p.entry.spec}: ${p.entry.row ? figureLines(p.entry.row).join('; ') : ''}`),
        ],
        headline: c.figures[0],
        command: `npx deepgen compare ${pair[0].entry.spec} ${pair[1].entry.spec} --out compare.png`,
        seconds,
      });
      log(`  ${file.padEnd(30)} ${seconds.toFixed(1)} s`);
    }
  } finally {
    for (const l of loaded) l.model.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const index = path.join(opts.out, 'index.html');
  writeFileAtomic(index, demoPage(pictures, seconds));
  return { pictures, index, seconds };
}

/** The page that shows the pictures with their figures. */
export function demoPage(pictures: DemoPicture[], seconds: number): string {
  const sections = pictures
    .map(
      (p) => `<section><h2>${esc(p.title)}</h2>
<img src="${esc(p.file)}" alt="${esc(p.title)}">
<p>${esc(p.caption)}</p>
<ul>${p.figures.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>
<p class="how">drawn in ${p.seconds.toFixed(1)} s · <code>${esc(p.command)}</code></p>
</section>`,
    )
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>deepgen demo: the model zoo</title>
<style>body{font-family:sans-serif;margin:2em;max-width:60em}img{image-rendering:pixelated;max-width:100%;border:1px solid #ccc}section{margin-bottom:2.5em}.how{color:#555;font-size:90%}</style></head><body>
<h1>deepgen: the model zoo</h1>
<p>Every picture was drawn just now, on this machine, from the trained models that ship with deepgen (${pictures.length} pictures in ${seconds.toFixed(1)} s). Figures are from each model's card (<code>deepgen models</code>); FID and accuracy use deepgen's own classifiers.</p>
${sections}
<p><b>Next:</b> <code>npx deepgen serve</code> and open <a href="http://127.0.0.1:8080/">http://127.0.0.1:8080/</a> to watch the models generate, step by step and pixel by pixel.</p>
</body></html>
`;
}
