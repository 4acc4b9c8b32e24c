// A Vite plugin that lets the threaded wasm backend start its threads from the bundle: each pthread worker loads the
// Emscripten glue from the package's own file, served as an asset, instead of from the minified factory's toString().
import type { Plugin } from 'vite';

/** backend_wasm.js of @tensorflow/tfjs-backend-wasm 4.22 (the ESM file Vite bundles). */
const BACKEND = /[\\/]@tensorflow[\\/]tfjs-backend-wasm[\\/]dist[\\/]backend_wasm\.js$/;

/** What init() hands the pthread workers: `var WasmBackendModuleThreadedSimd = ` + the factory's source, as a Blob they
 *  importScripts. Bundled and minified, that source refers to a variable of the closure it came from (Emscripten's
 *  `_scriptDir`, renamed `e`), so every thread dies with "ReferenceError: e is not defined"; and a blob: script is
 *  outside the page's CSP (script-src 'self'). */
const BLOB =
  /new Blob\(\[`var WasmBackendModuleThreadedSimd = ` \+\s*wasmFactoryThreadedSimd\.toString\(\)\], \{ type: 'text\/javascript' \}\)/;

/** The same glue, unbundled: the file the factory was built from, copied verbatim into the build by Vite's `?url`. */
const GLUE = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?url';

export function wasmThreadsPlugin(): Plugin {
  return {
    name: 'deepgen-wasm-threads',
    enforce: 'pre',
    transform(code, id) {
      if (!BACKEND.test(id.split('?')[0])) return null;
      if (!BLOB.test(code))
        this.error('tfjs-backend-wasm changed: its pthread script Blob is not where wasm-threads-plugin.ts expects it');
      // an absolute URL: the pthread workers run from blob: URLs, against which a relative one does not resolve
      return {
        code: `import deepgenThreadedGlue from '${GLUE}';\n${code.replace(BLOB, 'new URL(deepgenThreadedGlue, self.location.href).href')}`,
        map: null,
      };
    },
  };
}
