// Telling a real GPU from a CPU emulation of one (SwiftShader, llvmpipe/lavapipe), by what WebGPU or WebGL reports:
// `auto` takes a GPU backend only on a real one, in Node (src/node/webgpu.ts) and in the browser (src/web/backends.ts).
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

/** Whether an adapter or renderer, by its description (vendor, architecture, name), runs on the CPU. */
export function isSoftwareGpu(description: string, fallbackAdapter = false): boolean {
  return fallbackAdapter || SOFTWARE.test(description);
}
