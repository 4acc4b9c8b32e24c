// The deepgen CLI run from source under tsx, for the tests: they exercise src/ as it is now, not a possibly stale
// dist/ build (bin/deepgen.js runs dist/; test/cli/build.test.ts checks that path).
import { register } from 'tsx/esm/api';

register();
await import('../../src/cli/main.ts');
