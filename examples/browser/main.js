// @ts-check
// deepgen in a web page: load a trained run from a URL (its folder, served next to the page), sample with a seed and
// draw the images. ?model=URL/ &n=16 &seed=3. Bundle it with Vite: `npx vite build examples/browser`.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // or -wasm / -webgl: deepgen runs on any TensorFlow.js backend
import { loadModel } from 'deepgen';

const params = new URLSearchParams(location.search);
const status = /** @type {HTMLElement} */ (document.getElementById('status'));
const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('grid'));

async function main() {
  await tf.setBackend('cpu'); // the same arithmetic as `deepgen sample --backend cpu`: the same pixels
  const model = await loadModel(new URL(params.get('model') ?? './model/', location.href));
  const n = Number(params.get('n') ?? 16),
    seed = Number(params.get('seed') ?? 0);
  const { images } = await model.sample({
    n,
    seed,
    onStep: (p) => (status.textContent = `sampling ${p.done}/${p.total}`),
  });
  // one row of images, each 8-bit value drawn into RGBA
  const { height: h, width: w, channels: c, data } = images;
  canvas.width = n * w;
  canvas.height = h;
  const rgba = new ImageData(n * w, h);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((k * h + y) * w + x) * c,
          dst = (y * n * w + k * w + x) * 4;
        for (let j = 0; j < 3; j++) rgba.data[dst + j] = data[src + (c === 1 ? 0 : j)] ?? 0;
        rgba.data[dst + 3] = 255;
      }
    }
  }
  /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d')).putImageData(rgba, 0, 0);
  canvas.style.width = `${n * w * 4}px`;
  status.textContent = `${model.family}: ${n} samples, seed ${seed}, backend ${tf.getBackend()}`;
  Object.assign(window, { deepgenResult: { n, height: h, width: w, channels: c, data: Array.from(data) } });
  model.dispose();
  document.body.dataset.state = 'done';
}

main().catch((e) => {
  status.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
  document.body.dataset.error = status.textContent;
  document.body.dataset.state = 'error';
});
