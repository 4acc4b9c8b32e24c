// One view per family, each showing what its family does: autoregressive models fill the image pixel by pixel with
// the current pixel's predicted distribution; diffusion denoises step by step; VAE/AE get latent sliders,
// reconstructions and interpolations; the flow a temperature and the image -> latent -> image round trip; the GAN
// noise interpolation. Every view starts with the grid `deepgen sample` would write for the same seed.
import { slerp } from '../core/families/gan/sample.ts';
import { PlaygroundError } from './client.ts';
import type { ViewContext } from './main.ts';
import type { Images, SampleSettings } from './protocol.ts';
import { DrawingPad, drawDistribution, el, figure, gridOf, paint } from './widgets.ts';
import { pixelVariance, sharpness } from '../core/eval/sample-stats.ts';
import { floatsToUint8 } from '../core/viz/grid.ts';
import { samplers, type SamplerName } from '../core/diffusion/samplers/index.ts';

/** Encoded codes up to this size get a slider per dimension (a VAE's or AE's code; not a flow's, as large as the image). */
const MAX_SLIDERS = 64;

/** The panels a model's capabilities call for, never its family's name. */
export function buildView(ctx: ViewContext): void {
  const last = samplesPanel(ctx);
  const latent = ctx.info.latent;
  if (latent) {
    const sliders = latent.encode && latent.dim <= MAX_SLIDERS;
    latentPanel(ctx, last, {
      sliders,
      // image -> code -> image, where an encoder maps into a code too large to steer by sliders (a flow's f(x))
      roundTrip: latent.encode && !sliders,
      // no encoder: codes are prior draws only, interpolated along the sphere where Gaussian noise lives (a GAN's z)
      spherical: !latent.encode,
    });
  }
  if (ctx.info.cond !== 'none') sideBySidePanel(ctx);
}

/**
 * The one-shot baseline against generative models (issue 10): the same condition and seed through this model and the
 * other served models of the same data and conditioning, a row each, with the per-pixel variance across the row's
 * samples (0 for a deterministic model) and its sharpness (mean gradient magnitude).
 */
function sideBySidePanel(ctx: ViewContext): void {
  const { info, listing, common, worker, stage } = ctx;
  const others = ctx.runs.filter(
    (r) => r.id !== listing.id && r.dataset === listing.dataset && r.conditioning === listing.conditioning,
  );
  if (others.length === 0) return;
  const boxes = others.map((r) => el('input', { type: 'checkbox', id: `with-${r.id}`, value: r.id, checked: '' }));
  const go = button('side-by-side', 'side by side', 'the same condition and seed through each checked model');
  const fig = figure('side by side', () => common.fileName('side-by-side'), 'side-by-side-image');
  const table = el('table', { id: 'side-by-side-table', class: 'figures' });
  go.addEventListener('click', () =>
    ctx.act('side by side', async (first) => {
      const k = Math.min(common.n(), 16),
        seed = common.seed();
      const s = common.settings();
      // one condition for every row: the chosen class or prompt
      const settings = { ...s, labels: s.labels ? [s.labels[0]] : undefined };
      const ids = [listing.id, ...boxes.filter((b) => b.checked).map((b) => b.value)];
      const rows: { id: string; family: string; deterministic: boolean; images: Uint8Array }[] = [];
      for (const id of ids) {
        const other = ctx.runs.find((r) => r.id === id)!;
        const m =
          id === listing.id
            ? info
            : (
                await worker.request(
                  { type: 'load', run: id, files: other.files, backend: info.backend.split(' ')[0] },
                  'loaded',
                )
              ).model;
        const applies = (o: string) => m.samplingOptions.includes(o);
        const r = await worker.request(
          {
            type: 'sample',
            run: id,
            n: k,
            seed,
            settings: { ...settings, guidance: applies('guidance') ? settings.guidance : undefined },
            live: false,
          },
          'images',
        );
        rows.push({ id, family: m.family, deterministic: m.deterministic, images: r.images });
        first();
      }
      const per = info.height * info.width * info.channels;
      const all = new Uint8Array(rows.length * k * per);
      rows.forEach((r, i) => all.set(r.images, i * k * per));
      paint(
        fig.canvas,
        gridOf({ images: all, shape: [rows.length * k, info.height, info.width, info.channels] }, k),
        70 * k,
      );
      const what = s.prompts?.[0] ? `"${s.prompts[0]}"` : s.labels ? info.classNames[s.labels[0]] : 'no condition';
      fig.caption.textContent = `${what}, seed ${seed}: one row per model (${rows.map((r) => r.id).join(', ')})`;
      const f01 = (x: Uint8Array) => Float32Array.from(x, (v) => v / 255);
      table.replaceChildren(
        el(
          'tr',
          {},
          el('th', {}, 'row'),
          el('th', {}, 'model'),
          el('th', {}, 'per-pixel variance'),
          el('th', {}, 'edge sharpness'),
        ),
        ...rows.map((r, i) => {
          const x = f01(r.images);
          return el(
            'tr',
            { 'data-run': r.id },
            el('td', {}, String(i + 1)),
            el('td', {}, `${r.id} (${r.family}${r.deterministic ? ', one-shot' : ''})`),
            el('td', { class: 'variance' }, pixelVariance(x, k).toFixed(4)),
            el('td', {}, sharpness(x, k, info.height, info.width, info.channels).toFixed(4)),
          );
        }),
      );
    }),
  );
  stage.append(
    el(
      'section',
      { class: 'panel' },
      el('h3', {}, 'Side by side: the same condition through other models'),
      el(
        'p',
        {},
        'A one-shot model maps the condition straight to pixels with a pixel loss, so it draws the average of every image that fits it: one blurry image, whatever the seed. A generative model samples one of them. `deepgen compare` measures the same on many samples.',
      ),
      el('div', {}, ...others.map((r, i) => el('label', {}, boxes[i], ` ${r.id} (${r.family}) `))),
      go,
      fig.root,
      table,
    ),
  );
}

/** The button row of an action. */
function button(id: string, text: string, title: string): HTMLButtonElement {
  return el('button', { id, class: 'action', title }, text);
}

function numberInput(
  id: string,
  value: number,
  min: number,
  max: number,
  step: number,
  title: string,
): HTMLInputElement {
  return el('input', {
    id,
    type: 'number',
    value: String(value),
    min: String(min),
    max: String(max),
    step: String(step),
    title,
  });
}

/** Samples as a grid (seeded like `deepgen sample`), live where the family samples in steps; returns the last grid. */
function samplesPanel(ctx: ViewContext): () => Images | null {
  const { info, common, controls, stage } = ctx;
  const opts = info.samplingOptions;
  const extra: HTMLElement[] = [];
  /** The steps a request without --steps takes: the model's, else the chosen sampler's default. */
  const defaultSteps = () =>
    Number(
      info.model.steps ?? samplers[(sampler?.value ?? info.model.sampler ?? 'ddim') as SamplerName]?.defaultSteps ?? 50,
    );
  let sampler: HTMLSelectElement | null = null,
    steps: HTMLInputElement | null = null,
    temperature: HTMLInputElement | null = null;
  if (opts.includes('sampler')) {
    sampler = el(
      'select',
      { id: 'sampler' },
      ...Object.entries(samplers).map(([name, smp]) => el('option', { value: name }, smp.label)),
    );
    sampler.value = String(info.model.sampler ?? 'ddim');
    // a model without its own steps takes each sampler's default (DDIM 50, DPM-Solver++ 20): follow the menu
    sampler.addEventListener('change', () => {
      if (steps && info.model.steps === undefined) steps.value = String(defaultSteps());
    });
    extra.push(el('label', {}, 'sampler ', sampler));
  }
  if (opts.includes('steps')) {
    steps = numberInput(
      'steps',
      defaultSteps(),
      1,
      Number(info.model.T ?? 1000),
      1,
      'sampler steps (`deepgen sample --steps`; DDPM always takes every step)',
    );
    extra.push(el('label', {}, 'steps ', steps));
  }
  if (opts.includes('temperature')) {
    const t0 = Number(info.model.temperature ?? 1);
    temperature = el('input', {
      id: 'temperature',
      type: 'range',
      min: '0',
      max: '1.2',
      step: '0.05',
      value: String(t0),
    });
    const shown = el('span', { class: 'value' }, String(t0));
    temperature.addEventListener('input', () => (shown.textContent = temperature!.value));
    extra.push(
      el(
        'label',
        { title: 'z ~ N(0, T^2 I): below 1 cleaner, less varied images' },
        'temperature ',
        temperature,
        shown,
      ),
    );
  }
  const go = button('generate', 'generate', 'sample a grid with this seed, as `deepgen sample` does');
  controls.append(...extra, go);
  const fig = figure('samples', () => common.fileName('samples'), 'samples');
  const panel = el('section', { class: 'panel' }, el('h3', {}, 'Samples'), fig.root);
  const ar = info.generation === 'pixels';
  let chart: HTMLCanvasElement | null = null,
    chartCaption: HTMLElement | null = null;
  if (ar) {
    chart = el('canvas', { id: 'distribution', class: 'chart' });
    chartCaption = el(
      'figcaption',
      { id: 'distribution-caption' },
      'the predicted distribution of the current pixel appears here while sampling',
    );
    panel.append(el('figure', {}, chart, chartCaption));
  }
  // models sampled in steps (diffusion): sample 1 at a few steps from x_T to x_0, x_t above the x0hat predicted there
  const strip = info.generation === 'steps' ? denoisingStrip(() => common.fileName('denoising')) : null;
  if (strip) panel.append(strip.root);
  stage.append(panel);
  let latest: Images | null = null;
  let updates = 0;
  go.addEventListener('click', () =>
    ctx.act('generate', async (first, progress) => {
      const n = common.n(),
        seed = common.seed(),
        cols = common.cols(n);
      const s: SampleSettings = common.settings();
      if (sampler && sampler.value !== String(info.model.sampler ?? 'ddim')) s.sampler = sampler.value;
      if (steps && Number(steps.value) !== defaultSteps()) s.steps = Number(steps.value);
      if (temperature && Number(temperature.value) !== Number(info.model.temperature ?? 1))
        s.temperature = Number(temperature.value);
      const live = ar || opts.includes('animate');
      updates = 0;
      const per = info.height * info.width * info.channels;
      const kept: Uint8Array[] = [],
        keptX0: Uint8Array[] = [];
      const r = await ctx.worker.request(
        { type: 'sample', run: ctx.listing.id, n, seed, settings: s, live },
        'images',
        (u) => {
          first();
          fig.canvas.dataset.updates = String(++updates); // live updates shown (the e2e test counts them)
          paint(fig.canvas, gridOf(u, cols));
          if (u.type === 'frame') {
            progress(u.first * u.total + u.count * u.step, n * u.total); // steps done, weighted by the chunk's samples
            fig.caption.textContent = `denoising: step ${u.step} of ${u.total}${u.count < n ? `, samples ${u.first + 1}-${u.first + u.count} of ${n}` : ''}`;
            // sample 1's path: 8 evenly spaced steps, the first and the last included
            if (
              u.first === 0 &&
              (u.step === 1 ||
                Math.floor(((u.step - 1) * 7) / Math.max(1, u.total - 1)) >
                  Math.floor(((u.step - 2) * 7) / Math.max(1, u.total - 1)) ||
                u.step === u.total)
            ) {
              kept.push(u.images.slice(0, per));
              if (u.x0) keptX0.push(u.x0.slice(0, per));
              strip?.draw(kept, keptX0, info);
            }
          } else {
            const H = info.height,
              W = info.width;
            progress(u.row * W + u.col + 1, H * W);
            drawDistribution(chart!, u.probs, u.colors, u.drawn);
            const ch = u.channel < 0 ? '' : info.channels === 3 ? ` (${'RGB'[u.channel]})` : '';
            fig.caption.textContent = `row ${u.row + 1} of ${H}, column ${u.col + 1} of ${W}`;
            chartCaption!.textContent = `sample 1, pixel (${u.row}, ${u.col})${ch}: p(x_i | x_<i) over ${u.probs.length} values; drawn ${u.drawn} (red), p = ${u.probs[u.drawn].toFixed(3)}`;
          }
        },
      );
      latest = r;
      paint(fig.canvas, gridOf(r, cols));
      fig.caption.textContent = `${n} samples in ${r.ms.toFixed(0)} ms; the same images as \`${cliCommand(ctx.listing.dir, n, seed, s)}\``;
    }),
  );
  return () => latest;
}

/**
 * The denoising strip: sample 1's x_t at up to 8 steps (top row) and, below each, the x_0 the model predicted at that
 * step (x_t stays noise until late; x0hat shows early what the image will be). Drawn as frames arrive.
 */
function denoisingStrip(file: () => string): {
  root: HTMLElement;
  draw: (xt: Uint8Array[], x0: Uint8Array[], info: ViewContext['info']) => void;
} {
  const fig = figure(
    'sample 1 from noise (left) to image (right); below each x_t, the x_0 predicted from it: x0hat = (x_t - sqrt(1 - alphaBar_t) eps) / sqrt(alphaBar_t)',
    file,
    'denoising',
  );
  fig.caption.id = 'denoising-caption';
  const x0Label = el('span', {}, 'predicted x_0');
  const labels = el('div', { class: 'strip-labels', id: 'denoising-labels' }, el('span', {}, 'x_t'), x0Label);
  fig.root.prepend(el('div', { class: 'strip' }, labels, fig.canvas));
  fig.root.hidden = true; // shown once drawn
  return {
    root: fig.root,
    draw(xt, x0, info) {
      const per = info.height * info.width * info.channels;
      const rows = x0.length === xt.length ? [...xt, ...x0] : xt; // x0hat rows only from a sampler that predicts it
      x0Label.hidden = rows === xt;
      const all = new Uint8Array(rows.length * per);
      rows.forEach((k, i) => all.set(k, i * per));
      paint(
        fig.canvas,
        gridOf({ images: all, shape: [rows.length, info.height, info.width, info.channels] }, xt.length),
        70 * xt.length,
      );
    },
  };
}

/** The `deepgen sample` command that writes the same grid. */
function cliCommand(dir: string, n: number, seed: number, s: SampleSettings): string {
  const q = (v: string) => (/^[\w./-]+$/.test(v) ? v : `"${v.replace(/"/g, '\\"')}"`);
  const parts = ['deepgen sample', q(dir), `--seed ${seed}`, `--n ${n}`];
  if (s.labels?.length === 1) parts.push(`--label ${s.labels[0]}`);
  for (const p of s.prompts ?? []) parts.push(`--prompt ${q(p)}`);
  if (s.guidance !== undefined) parts.push(`--guidance ${s.guidance}`);
  if (s.sampler !== undefined) parts.push(`--sampler ${s.sampler}`);
  if (s.steps !== undefined) parts.push(`--steps ${s.steps}`);
  if (s.temperature !== undefined) parts.push(`--temperature ${s.temperature}`);
  return parts.join(' ');
}

/** VAE/AE (sliders, reconstruction, interpolation), flow (round trip, interpolation) and GAN (noise interpolation). */
function latentPanel(
  ctx: ViewContext,
  lastSamples: () => Images | null,
  o: { sliders: boolean; roundTrip: boolean; spherical: boolean },
): void {
  const { info, common, stage, worker } = ctx;
  const latent = info.latent;
  if (!latent) return;
  const { height: H, width: W, channels: C } = info;
  const per = H * W * C;
  const decode = async (z: Float32Array, n: number, settings: SampleSettings = common.settings()) =>
    worker.request({ type: 'decode', run: ctx.listing.id, z, n, settings }, 'images');
  const settingsFor = (n: number): SampleSettings => {
    // one condition for the whole strip: the chosen class (the first when "every class" is chosen)
    const s = common.settings();
    return { ...s, labels: s.labels ? Array.from({ length: n }, () => s.labels![0]) : undefined };
  };
  let pads: DrawingPad[] = [];
  const encode = async (pixels: Uint8Array[]) => {
    const images = new Uint8Array(pixels.length * per);
    pixels.forEach((p, i) => images.set(p, i * per));
    return (
      await worker.request(
        { type: 'encode', run: ctx.listing.id, images, n: pixels.length, settings: settingsFor(pixels.length) },
        'codes',
      )
    ).z;
  };

  /** Image A, its code z and the image z decodes to. */
  const throughCode = async () => {
    const a = pads[0].pixels();
    const z = await encode([a]);
    return { a, z, back: (await decode(z, 1, settingsFor(1))).images };
  };
  /** Images [H, W, C] side by side as one grid. */
  const row = (images: Uint8Array[]) => {
    const all = new Uint8Array(images.length * per);
    images.forEach((im, i) => all.set(im, i * per));
    return gridOf({ images: all, shape: [images.length, H, W, C] }, images.length);
  };

  // the input images: pads to draw on, load a file into, or fill from the samples
  if (latent.encode) {
    pads = [new DrawingPad(H, W, C, 'pad-a', 'image A'), new DrawingPad(H, W, C, 'pad-b', 'image B')];
    const fromSamples = button(
      'pads-from-samples',
      'A, B = samples 1, 2',
      'copy the first two samples of the grid into the pads',
    );
    fromSamples.addEventListener('click', () => {
      const s = lastSamples();
      if (!s)
        return ctx.act('copy samples', async () => {
          throw new PlaygroundError('generate samples first, then copy them into the pads');
        });
      pads.forEach((p, i) => p.set(s.images.slice((i % s.shape[0]) * per, ((i % s.shape[0]) + 1) * per)));
    });
    stage.append(
      el(
        'section',
        { class: 'panel' },
        el('h3', {}, 'Input images'),
        el('p', {}, 'Draw with the mouse, load an image file (resized to the model size), or copy two samples.'),
        el('div', { class: 'row' }, ...pads.map((p) => p.root)),
        fromSamples,
      ),
    );
  }

  if (o.sliders) {
    const k = Math.min(latent.dim, 16);
    let z: Float32Array = new Float32Array(latent.dim);
    const fig = figure('the image the code decodes to', () => common.fileName('latent'), 'latent-image');
    const sliders = Array.from({ length: k }, (_, i) =>
      el('input', {
        id: `slider-${i}`,
        type: 'range',
        min: '-4',
        max: '4',
        step: '0.05',
        value: '0',
        title: `z[${i}]`,
      }),
    );
    let pending = false,
      again = false;
    let onZ = (_z: Float32Array) => {};
    const redraw = async () => {
      if (pending) return void (again = true);
      pending = true;
      try {
        do {
          again = false;
          paint(fig.canvas, gridOf(await decode(z.slice(), 1, settingsFor(1)), 1), 200);
          onZ(z);
        } while (again);
      } catch (e) {
        ctx.fail(e);
      } finally {
        pending = false;
      }
    };
    sliders.forEach((s, i) =>
      s.addEventListener('input', () => {
        z[i] = Number(s.value);
        void redraw();
      }),
    );
    const setZ = (nz: Float32Array) => {
      z = nz;
      sliders.forEach((s, i) => (s.value = String(z[i])));
      void redraw();
    };
    const fromSeed = button('latent-from-seed', 'code of the seed', 'start from z of sample 1 of this seed');
    fromSeed.addEventListener('click', () =>
      ctx.act('latent', async () =>
        setZ(
          (await worker.request({ type: 'prior', run: ctx.listing.id, n: 1, seed: common.seed() }, 'codes')).z.slice(
            0,
            latent.dim,
          ),
        ),
      ),
    );
    const box = el('div', { class: 'sliders' }, ...sliders.map((s, i) => el('label', {}, `z${i} `, s)));
    const parts: HTMLElement[] = [box];
    if (latent.dim === 2) {
      const map = el('canvas', {
        id: 'latent-2d',
        class: 'map',
        width: '160',
        height: '160',
        title: 'pick (z0, z1) in [-4, 4]^2',
      });
      const g = map.getContext('2d')!;
      // the plane [-4, 4]^2 with its axes, and the current code as a red dot
      onZ = (c) => {
        g.fillStyle = '#eee';
        g.fillRect(0, 0, 160, 160);
        g.strokeStyle = '#999';
        g.strokeRect(80, 0, 0, 160);
        g.strokeRect(0, 80, 160, 0);
        g.fillStyle = '#e00';
        g.beginPath();
        g.arc(((c[0] + 4) / 8) * 160, ((4 - c[1]) / 8) * 160, 4, 0, 2 * Math.PI);
        g.fill();
      };
      onZ(z);
      const pick = (e: PointerEvent) => {
        if (e.buttons === 0 && e.type === 'pointermove') return;
        const r = map.getBoundingClientRect();
        setZ(Float32Array.from([((e.clientX - r.left) / r.width) * 8 - 4, 4 - ((e.clientY - r.top) / r.height) * 8]));
      };
      map.addEventListener('pointerdown', pick);
      map.addEventListener('pointermove', pick);
      parts.unshift(el('div', {}, 'drag in the plane of the 2-d code:', map));
    }
    const reconstruct = button(
      'reconstruct',
      'reconstruct image A',
      'encode image A, decode its code; the sliders then move from its code',
    );
    const recon = figure('image A and its reconstruction', () => common.fileName('reconstruction'), 'reconstruction');
    reconstruct.addEventListener('click', () =>
      ctx.act('reconstruct', async (first) => {
        const { a, z, back } = await throughCode();
        first();
        paint(recon.canvas, row([a, back]), 240);
        setZ(z);
      }),
    );
    stage.append(
      el(
        'section',
        { class: 'panel' },
        el('h3', {}, `Latent code: ${latent.description}`),
        el(
          'p',
          {},
          `Sliders move the first ${k} of ${latent.dim} dimensions of z; the decoder draws the result as you move them.`,
        ),
        fromSeed,
        ...parts,
        fig.root,
        reconstruct,
        recon.root,
      ),
    );
  }

  if (o.roundTrip) {
    const go = button('roundtrip', 'image A -> latent -> image', 'z = f(x), then x = f^-1(z): the flow is invertible');
    const fig = figure(
      'image A, its latent z (grey = 0, white = +3), and f^-1(z)',
      () => common.fileName('roundtrip'),
      'roundtrip-image',
    );
    go.addEventListener('click', () =>
      ctx.act('round trip', async (first) => {
        const { a, z, back } = await throughCode();
        first();
        const zImage = floatsToUint8(z.subarray(0, per), -3, 3); // z in [-3, 3] as grey levels, 0 mid-grey
        let worst = 0;
        for (let i = 0; i < per; i++) worst = Math.max(worst, Math.abs(a[i] - back[i]));
        paint(fig.canvas, row([a, zImage, back]), 360);
        fig.caption.textContent = `image A, z = f(A) (${latent.dim} numbers), and f^-1(z): largest pixel difference ${worst} of 255`;
      }),
    );
    stage.append(
      el(
        'section',
        { class: 'panel' },
        el('h3', {}, 'Image to latent and back'),
        el('p', {}, latent.description),
        go,
        fig.root,
      ),
    );
  }

  // interpolation: between the codes of images A and B (models with an encoder) or of two seeds (GAN)
  const steps = numberInput('interp-steps', 8, 2, 32, 1, 'images along the path, ends included');
  const seedA = numberInput('seed-a', 1, 0, 2 ** 31 - 1, 1, 'seed of z_a'),
    seedB = numberInput('seed-b', 2, 0, 2 ** 31 - 1, 1, 'seed of z_b');
  const go = button(
    'interpolate',
    o.spherical ? 'interpolate z_a -> z_b' : 'interpolate A -> B',
    o.spherical
      ? 'spherical interpolation between two noise vectors'
      : 'linear interpolation between the codes of images A and B',
  );
  const fig = figure('interpolation', () => common.fileName('interpolation'), 'interpolation');
  go.addEventListener('click', () =>
    ctx.act('interpolate', async (first) => {
      const m = Number(steps.value);
      if (!Number.isInteger(m) || m < 2 || m > 32)
        throw new PlaygroundError(`steps must be a whole number from 2 to 32, got "${steps.value}"`);
      let a: Float32Array, b: Float32Array;
      if (o.spherical) {
        a = (await worker.request({ type: 'prior', run: ctx.listing.id, n: 1, seed: Number(seedA.value) }, 'codes')).z;
        b = (await worker.request({ type: 'prior', run: ctx.listing.id, n: 1, seed: Number(seedB.value) }, 'codes')).z;
      } else {
        const z = await encode([pads[0].pixels(), pads[1].pixels()]);
        a = z.slice(0, latent.dim);
        b = z.slice(latent.dim);
      }
      const path = new Float32Array(m * latent.dim);
      for (let i = 0; i < m; i++) {
        const t = i / (m - 1);
        if (o.spherical) path.set(slerp(a, b, t), i * latent.dim);
        else for (let j = 0; j < latent.dim; j++) path[i * latent.dim + j] = (1 - t) * a[j] + t * b[j];
      }
      const r = await decode(path, m, settingsFor(m));
      first();
      paint(fig.canvas, gridOf(r, m), 80 * m);
      fig.caption.textContent = o.spherical
        ? `G(slerp(z_a, z_b, t)), t = 0 .. 1 in ${m} steps`
        : `decode((1 - t) z_A + t z_B), t = 0 .. 1 in ${m} steps`;
    }),
  );
  stage.append(
    el(
      'section',
      { class: 'panel' },
      el('h3', {}, o.spherical ? 'Noise interpolation' : 'Interpolation'),
      o.spherical ? el('span', {}, el('label', {}, 'seed a ', seedA), el('label', {}, ' seed b ', seedB)) : '',
      el('label', {}, ' steps ', steps),
      ' ',
      go,
      fig.root,
    ),
  );
}
