import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

import local from './scripts/eslint-no-type-import-cycle.js';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'cdk.out/', 'coverage/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // node:test's describe/it return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'it', property: 'only', message: 'Focused tests must not be committed.' },
        { object: 'describe', property: 'only', message: 'Focused tests must not be committed.' },
        { object: 'test', property: 'only', message: 'Focused tests must not be committed.' },
      ],
    },
  },
  // The shape of the code: no import cycles, and each layer imports only what it may.
  {
    files: ['src/**/*.ts', 'infra/**/*.ts'],
    plugins: { 'import-x': importX, local },
    settings: {
      // Resolves './x.js' to the './x.ts' beside it, as TypeScript (NodeNext) does.
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
      // The modules import-x reads to follow imports further (by default only .js, .mjs, .cjs).
      'import-x/extensions': ['.ts'],
    },
    rules: {
      // A cycle of imports (static or `await import()`), reported in each module of it that is linted
      // (packages are not followed: none imports this project, and reading their typings is slow)...
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // ...and the cycles no-cycle leaves out: those closed by an `import type`.
      'local/no-type-import-cycle': 'error',
      'import-x/no-restricted-paths': [
        'error',
        {
          basePath: import.meta.dirname,
          zones: [
            {
              target: 'src/server',
              from: 'src/gallery',
              message: 'The upload server knows nothing of the gallery: the CLI (src/cli) composes the two.',
            },
            {
              target: 'src/core',
              from: ['src/server', 'src/gallery', 'src/cli', 'src/stores', 'src/lambda'],
              message: 'The core is runtime-neutral: the server, gallery, CLI, stores and Lambda adapters import it, never the other way round.',
            },
          ],
        },
      ],
    },
  },
  { files: ['eslint.config.js', 'scripts/*.js'], ...tseslint.configs.disableTypeChecked },
  // The gallery's browser script: plain JavaScript served as it is (no build step), so not type-checked.
  {
    files: ['assets/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'location', 'fetch', 'setTimeout', 'clearTimeout', 'setInterval', 'Image', 'Element', 'performance', 'sessionStorage', 'Intl'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
