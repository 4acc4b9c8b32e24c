// @ts-check
// Load a trained run (a folder written by `deepgen train` or train(), or an http(s) URL of one) and sample from it,
// choosing by what the model can do: a class or prompt where it is conditional, a latent round trip where it has an
// encoder, bits/dim where it has a likelihood.
//   node examples/node/load-and-sample.mjs RUN [OUT.png]
import { loadModel, writePng } from 'deepgen/node';

const [run, file = 'samples.png'] = process.argv.slice(2);
if (!run) {
  console.error('usage: node load-and-sample.mjs RUN [OUT.png]');
  process.exit(2);
}
const model = await loadModel(run);
const caps = model.capabilities;
console.log(
  `${model.family}: ${model.info.height}x${model.info.width}x${model.info.channels}, conditioning ${caps.conditioning}`,
);

const request = { n: 16, seed: 7 };
const { images } =
  caps.conditioning === 'label'
    ? await model.sample({ ...request, label: caps.classNames?.[0] ?? 0 })
    : caps.conditioning === 'text'
      ? await model.sample({ ...request, prompt: 'a red circle' })
      : await model.sample(request);
writePng(file, images, { cols: 8, scale: 2 });
console.log(`wrote ${file}`);

if (model.encode && model.decode) {
  const codes = await model.encode(images); // { n, dim, data: Float32Array }
  const back = await model.decode(codes);
  let diff = 0;
  for (let i = 0; i < images.data.length; i++) diff += Math.abs((images.data[i] ?? 0) - (back.images.data[i] ?? 0));
  console.log(
    `latent round trip: ${codes.dim} dimensions, mean |x - decode(encode(x))| = ${(diff / images.data.length).toFixed(1)} of 255`,
  );
}
if (model.logProb) {
  const lp = await model.logProb(images);
  console.log(`-log p(samples): ${lp.bitsPerDim.toFixed(3)} bits/dim (${lp.kind}, ${lp.name})`);
}
model.dispose();
