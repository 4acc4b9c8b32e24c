// ESLint (flat config): typescript-eslint's recommended rules, and the layering rule that keeps src/core platform-free
// (no node: builtins, no node/cli/web imports), so the `deepgen` entry bundles for the browser.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'assert',
  'buffer',
  'child_process',
  'crypto',
  'events',
  'fs',
  'fs/promises',
  'http',
  'https',
  'module',
  'net',
  'os',
  'path',
  'process',
  'stream',
  'url',
  'util',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'vendor/**', 'native/build/**', 'test-output/**', 'runs/**', 'docs/api/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `any` appears where tfjs's kernel and registry types are looser than ours; each use is deliberate
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // `x!` after a check the compiler cannot follow (map lookups just set) reads better than a cast
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['src/core/**/*.ts', 'src/index.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*'],
              message:
                'src/core is platform-free (it bundles for the browser): no Node builtins; put file and process work in src/node.',
            },
            {
              group: NODE_BUILTINS,
              message: 'src/core is platform-free: no Node builtins; put file and process work in src/node.',
            },
            {
              group: ['**/node/**', '**/cli/**', '**/web/**'],
              message: 'src/core must not import the node, cli or web layers (they import core).',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'src/core is platform-free: take settings as arguments.' },
        { name: 'Buffer', message: 'src/core is platform-free: use Uint8Array.' },
        { name: '__dirname', message: 'src/core is platform-free.' },
      ],
    },
  },
  {
    // undefined names are TypeScript's to find (the examples and scripts are type-checked with checkJs where it matters)
    files: ['**/*.js', '**/*.mjs'],
    rules: { 'no-undef': 'off' },
  },
);
