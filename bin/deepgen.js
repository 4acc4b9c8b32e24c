#!/usr/bin/env node
// deepgen command-line entry: the CLI compiled to dist/ by `npm run build` (run by npm install in a checkout).
try {
  await import('../dist/cli/main.js');
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && /dist[\\/]cli[\\/]main\.js/.test(e.message)) {
    console.error('deepgen: error: the CLI is not built (dist/ is missing); run `npm run build` in the deepgen folder');
    process.exit(2);
  }
  throw e;
}
