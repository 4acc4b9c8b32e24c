// Builds the playground (this folder) into dist/web, which `deepgen serve` serves: `npm run build:web`.
import { defineConfig } from 'vite';
import { wasmThreadsPlugin } from './wasm-threads-plugin.ts';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  logLevel: 'warn',
  build: { outDir: '../../dist/web', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
  plugins: [wasmThreadsPlugin()],
  // the worker's own bundle is where the wasm backend lives: the plugin must run there
  worker: { format: 'es', plugins: () => [wasmThreadsPlugin()] },
});
