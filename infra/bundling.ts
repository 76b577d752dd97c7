import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

/** The repository root (infra/..). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The two Lambda entry points, by function. */
export const HANDLER_ENTRIES = {
  authorizer: path.join(PROJECT_ROOT, 'src', 'lambda', 'authorizer.ts'),
  upload: path.join(PROJECT_ROOT, 'src', 'lambda', 'upload.ts'),
} as const;

export type HandlerName = keyof typeof HANDLER_ENTRIES;

/** The Node.js major version of the functions' runtime (nodejs24.x). */
export const LAMBDA_NODE_MAJOR = 24;
/** esbuild's target for that runtime. */
export const NODE_TARGET = `node${LAMBDA_NODE_MAJOR}`;

/** The handler module inside a bundle directory; the function's handler is `index.handler`. */
export const HANDLER_FILE = 'index.mjs';

/**
 * ESM output may still hold CommonJS code from dependencies that calls `require` for Node's
 * built-ins; this gives every output file one.
 */
export const REQUIRE_BANNER = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/**
 * How both handlers are bundled: the one definition used by the CDK stack, the bundle test and
 * the benchmark, so what is measured and tested is what is deployed.
 *
 * - The AWS SDK v3 is bundled, not left to the runtime's copy (loading that from node_modules
 *   costs about twice the cold start, and its version is not ours).
 * - `module` before `main`: esbuild takes the ES module builds, and drops what a handler does
 *   not import (CommonJS builds cannot be tree-shaken).
 * - Code splitting: what the SDK loads with `import()` only when it needs it (the credential
 *   providers other than environment variables, the STS/SSO clients behind them, the browser
 *   user-agent parser, …) goes to separate files under `chunks/`, so a cold start does not pay
 *   for compiling code a Lambda function never runs. Nothing is left out of the package: the
 *   whole credential chain is there when it is needed.
 * - Minified, with external source maps without sources (stack traces map to files and lines).
 */
export function esbuildOptions(handler: HandlerName, outdir: string, overrides: Partial<BuildOptions> = {}): BuildOptions {
  return {
    entryPoints: { index: HANDLER_ENTRIES[handler] },
    outdir,
    entryNames: '[name]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    banner: { js: REQUIRE_BANNER },
    logLevel: 'warning',
    ...overrides,
  };
}
