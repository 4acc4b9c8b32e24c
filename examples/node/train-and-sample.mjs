// @ts-check
// Train a small VAE on deepgen's built-in `shapes` data, then sample 16 images from it and write them as a PNG grid.
//   node examples/node/train-and-sample.mjs [RUN_FOLDER]      (about a minute on two cores)
import { train, loadModel, writePng } from 'deepgen/node';

const out = process.argv[2] ?? 'runs/example-vae';
const controller = new AbortController();
process.on('SIGINT', () => controller.abort()); // Ctrl-C: stop after this step with a checkpoint (resume: true goes on)

const result = await train(
  {
    family: 'vae',
    data: { dataset: 'shapes', size: 16, trainN: 2000, testN: 200 },
    train: { steps: 300, batchSize: 64 },
  },
  {
    out,
    signal: controller.signal,
    onStep: (s) => {
      if (s.step % 100 === 0)
        console.log(`step ${s.step}/${s.total}  loss ${s.loss.toFixed(1)}  ${s.imagesPerSecond.toFixed(0)} images/s`);
    },
  },
);
console.log(`trained ${result.step} steps on the ${result.backend} backend in ${result.seconds.toFixed(1)} s`);

const model = await loadModel(out);
const { images } = await model.sample({ n: 16, seed: 1 }); // { n, height, width, channels, data: Uint8Array } 0-255
writePng(`${out}/samples.png`, images, { cols: 4, scale: 4 });
console.log(`wrote ${out}/samples.png: ${images.n} images ${images.width}x${images.height}x${images.channels}`);
model.dispose();
