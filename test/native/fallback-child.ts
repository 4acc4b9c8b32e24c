// Run by fallback.test.ts with DEEPGEN_NO_NATIVE=1: prints what 'auto' picks and what '--backend native' says.
import { initBackend } from '../../src/node/backend.ts';

const auto = await initBackend('auto');
const autoConv = await initBackend('auto', { convTraining: true });
let nativeError = '';
try {
  await initBackend('native');
} catch (e) {
  nativeError = `${(e as Error).name}: ${(e as Error).message}`;
}
console.log(JSON.stringify({ auto, autoConv, nativeError }));
