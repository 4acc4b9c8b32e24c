// Test setup: registers tfjs gradients and backends, and selects the backend under test
// (DEEPGEN_TEST_BACKEND=cpu|wasm, default cpu).
import { initBackend } from '../../src/node/backend.ts';

export const TEST_BACKEND = process.env.DEEPGEN_TEST_BACKEND ?? 'cpu';
await initBackend(TEST_BACKEND);
