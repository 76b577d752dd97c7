/**
 * `npm run bench:lambda`: each Lambda bundle's size and its cold initialisation time as the
 * nodejs24.x runtime pays it: a fresh Node process importing the handler module (the runtime
 * `import()`s an .mjs handler), minus a bare Node process, median of interleaved runs.
 *
 * Variants, bundled in the same run from the same sources:
 * - deployed: the stack's bundling (infra/bundling.ts): SDK v3 inside, ESM builds, minified,
 *   what the SDK loads only on demand split into chunks that a cold start does not load;
 * - single-file: the same without code splitting (what NodejsFunction's own bundling can do);
 * - cdk-default: NodejsFunction's default of leaving `@aws-sdk/*` out of the bundle, so the SDK
 *   loads from node_modules as the runtime's own copy would;
 * - naive: everything bundled, but from the packages' CommonJS builds (esbuild's default for Node);
 * - deployed+source-maps: the deployed bundle under NODE_OPTIONS=--enable-source-maps.
 *
 * Options: --runs N (default 15), --json.
 */
import { spawnSync } from 'node:child_process';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import type { BuildOptions, Metafile } from 'esbuild';
import { HANDLER_FILE, LAMBDA_NODE_MAJOR, PROJECT_ROOT, esbuildOptions } from '../infra/bundling.js';
import type { HandlerName } from '../infra/bundling.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 15) || 15;
const asJson = args.includes('--json');
/** The issue's goal: at most 50 ms above bare Node, half of what the seed's approach costs. */
const TARGET_MS = 50;

// Inside the project, so that packages left out of a bundle resolve from its node_modules.
const workDir = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'images-to-s3-bench');

interface Variant {
  name: string;
  options(handler: HandlerName, outdir: string): BuildOptions;
  nodeOptions?: string;
}

const VARIANTS: Variant[] = [
  { name: 'deployed', options: (handler, outdir) => esbuildOptions(handler, outdir) },
  { name: 'deployed+source-maps', options: (handler, outdir) => esbuildOptions(handler, outdir), nodeOptions: '--enable-source-maps' },
  { name: 'single-file', options: (handler, outdir) => esbuildOptions(handler, outdir, { splitting: false }) },
  { name: 'cdk-default', options: (handler, outdir) => esbuildOptions(handler, outdir, { splitting: false, external: ['@aws-sdk/*'], mainFields: ['main', 'module'] }) },
  { name: 'naive', options: (handler, outdir) => esbuildOptions(handler, outdir, { splitting: false, mainFields: ['main', 'module'] }) },
];

/** What the handlers read from the environment at import; nothing is contacted. */
const HANDLER_ENV = {
  IMAGES_BUCKET: 'bench-bucket',
  TOKEN_SECRET_ID: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-AbCdEf',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDBENCH',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
};

interface Bundle {
  handler: HandlerName;
  variant: Variant;
  /** The handler module. */
  file: string;
  /** JavaScript loaded at init (the handler module and what it imports statically), and in all. */
  bytes: number;
  totalBytes: number;
  mapBytes: number;
}

/** Bytes of the handler module and of every output it imports statically, transitively. */
function loadedAtInit(metafile: Metafile, file: string): number {
  const outputs = new Map(Object.entries(metafile.outputs).map(([name, output]) => [path.resolve(name), output]));
  const seen = new Set<string>();
  const visit = (name: string): number => {
    const output = outputs.get(name);
    if (seen.has(name) || !output) return 0;
    seen.add(name);
    return output.bytes + output.imports.filter((item) => item.kind === 'import-statement' && !item.external).reduce((sum, item) => sum + visit(path.resolve(item.path)), 0);
  };
  return visit(path.resolve(file));
}

async function sizes(directory: string): Promise<{ totalBytes: number; mapBytes: number }> {
  let totalBytes = 0;
  let mapBytes = 0;
  for (const entry of await readdir(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const size = (await stat(path.join(entry.parentPath, entry.name))).size;
    if (entry.name.endsWith('.mjs')) totalBytes += size;
    if (entry.name.endsWith('.map')) mapBytes += size;
  }
  return { totalBytes, mapBytes };
}

async function bundles(): Promise<Bundle[]> {
  await rm(workDir, { recursive: true, force: true });
  const result: Bundle[] = [];
  const built = new Map<string, Omit<Bundle, 'handler' | 'variant'>>();
  for (const handler of ['authorizer', 'upload'] as const) {
    for (const variant of VARIANTS) {
      const options = variant.options(handler, path.join(workDir, handler, variant.name));
      const key = JSON.stringify({ ...options, outdir: undefined });
      let output = built.get(key);
      if (!output) {
        const { metafile } = await build({ ...options, metafile: true, logLevel: 'error' });
        const file = path.join(options.outdir!, HANDLER_FILE);
        output = { file, bytes: loadedAtInit(metafile, file), ...(await sizes(options.outdir!)) };
        built.set(key, output);
      }
      result.push({ handler, variant, ...output });
    }
  }
  return result;
}

/** Milliseconds from process start to the end of the import (in-process) and to exit (wall). */
function measure(file: string | undefined, nodeOptions: string | undefined): { inProcess: number; wall: number } {
  const code = file
    ? `const{performance:p}=await import('node:perf_hooks');await import(${JSON.stringify(pathToFileURL(file).href)});process.stdout.write(String(p.now()))`
    : `const{performance:p}=await import('node:perf_hooks');process.stdout.write(String(p.now()))`;
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, ...HANDLER_ENV, ...(nodeOptions && { NODE_OPTIONS: nodeOptions }) },
  });
  const wall = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) throw new Error(`loading ${file ?? 'nothing'} failed: ${child.stderr}`);
  return { inProcess: Number(child.stdout), wall };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function main(): Promise<void> {
  const all = await bundles();
  const samples = new Map<Bundle | 'bare', { inProcess: number[]; wall: number[] }>();
  for (const subject of ['bare' as const, ...all]) samples.set(subject, { inProcess: [], wall: [] });
  measure(undefined, undefined); // warm the file system cache
  for (const bundle of all) measure(bundle.file, bundle.variant.nodeOptions);
  for (let round = 0; round < runs; round++) {
    for (const [subject, times] of samples) {
      const time = subject === 'bare' ? measure(undefined, undefined) : measure(subject.file, subject.variant.nodeOptions);
      times.inProcess.push(time.inProcess);
      times.wall.push(time.wall);
    }
  }
  const bare = samples.get('bare')!;
  const bareWall = median(bare.wall);
  const bareInProcess = median(bare.inProcess);
  const rows = all.map((bundle) => {
    const times = samples.get(bundle)!;
    return {
      handler: bundle.handler,
      variant: bundle.variant.name,
      bundleKB: Math.round(bundle.bytes / 1024),
      packageKB: Math.round(bundle.totalBytes / 1024),
      sourceMapKB: Math.round(bundle.mapBytes / 1024),
      initMs: Math.round((median(times.wall) - bareWall) * 10) / 10,
      importMs: Math.round((median(times.inProcess) - bareInProcess) * 10) / 10,
    };
  });
  const summary = { node: process.version, runs, bareNodeMs: Math.round(bareWall * 10) / 10, targetMs: TARGET_MS, rows };
  if (asJson) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  process.stdout.write(`Lambda cold init, ${process.version}, median of ${runs} interleaved runs; bare \`node\`: ${summary.bareNodeMs} ms\n`);
  if (!process.version.startsWith(`v${LAMBDA_NODE_MAJOR}.`)) {
    process.stdout.write(`(the functions run on Node ${LAMBDA_NODE_MAJOR}: \`bash scripts/with-node.sh ${LAMBDA_NODE_MAJOR} npm run bench:lambda\` measures on it)\n`);
  }
  process.stdout.write('init = fresh process importing the handler, minus bare node (wall clock); import = the same measured inside the process\n\n');
  process.stdout.write('at init = JavaScript the runtime loads to import the handler; package = all JavaScript deployed (on-demand chunks included)\n\n');
  process.stdout.write(`${'handler'.padEnd(12)}${'variant'.padEnd(22)}${'at init'.padStart(9)}${'package'.padStart(10)}${'maps'.padStart(10)}${'init'.padStart(10)}${'import'.padStart(10)}\n`);
  for (const row of rows) {
    process.stdout.write(
      `${row.handler.padEnd(12)}${row.variant.padEnd(22)}${`${row.bundleKB} KB`.padStart(9)}${`${row.packageKB} KB`.padStart(10)}${`${row.sourceMapKB} KB`.padStart(10)}${`${row.initMs} ms`.padStart(10)}${`${row.importMs} ms`.padStart(10)}\n`,
    );
  }
  process.stdout.write('\n');
  for (const handler of ['authorizer', 'upload'] as const) {
    const deployed = rows.find((row) => row.handler === handler && row.variant === 'deployed')!;
    const baseline = rows.find((row) => row.handler === handler && row.variant === 'cdk-default')!;
    const verdict = deployed.initMs <= TARGET_MS ? 'within' : 'over';
    const share = Math.round((deployed.initMs / baseline.initMs) * 100);
    process.stdout.write(
      `${handler}: deployed ${deployed.initMs} ms, ${verdict} the ${TARGET_MS} ms target on this machine; ${share}% of leaving the SDK to node_modules (${baseline.initMs} ms in this run; the goal is at most half)\n`,
    );
  }
}

await main();
