import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/', 'test/fixtures/.lowered/'] },
  { languageOptions: { globals: { ...globals.node } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    files: ['examples/**', 'bench/**', 'test/**', 'src/cli/**', 'src/testing/cli.ts', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  prettier,
  // After prettier's entry, which turns max-len off: prettier wraps code at 120 but cannot split strings or comments.
  { rules: { 'max-len': ['error', { code: 120, ignoreUrls: true }] } },
);
