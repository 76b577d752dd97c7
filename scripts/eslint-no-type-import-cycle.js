/**
 * ESLint rule `local/no-type-import-cycle`: the import cycles that `import-x/no-cycle` lets
 * through, those closed by a type-only import (`import type`, `export type … from`,
 * `import('…').T`). TypeScript erases such an import, so the cycle does no harm at run time, but
 * the two modules still depend on each other: `src/cli/camera.ts` loaded `./camera-actions.js`,
 * which took its option types from `./camera.js`.
 *
 * A type-only import is reported when the module it names leads back, through imports of any
 * kind (static, `await import()`, type-only), to the module that has it. A cycle of value imports
 * alone is left to import-x/no-cycle, which reports it. The import graph is the TypeScript
 * program's that typescript-eslint has already built (the rule needs typed linting), resolved as
 * `tsc` resolves it (`./x.js` is `./x.ts`).
 *
 * @module
 */

import path from 'node:path';

import ts from 'typescript';

/** @type {WeakMap<ts.Program, Map<string, string[]>>} each program's modules → the project modules each imports */
const graphs = new WeakMap();
/** @type {WeakMap<ts.Program, ts.ModuleResolutionCache>} */
const resolutionCaches = new WeakMap();

/**
 * The project module (not a package's, not a declaration file) that `specifier` names, as `tsc` resolves it.
 *
 * @param {ts.Program} program
 * @param {ts.StringLiteralLike} specifier
 * @returns {string | undefined}
 */
function moduleNamedBy(program, specifier) {
  const sourceFile = specifier.getSourceFile();
  const options = program.getCompilerOptions();
  let cache = resolutionCaches.get(program);
  if (!cache) resolutionCaches.set(program, (cache = ts.createModuleResolutionCache(program.getCurrentDirectory(), (name) => name, options)));
  const mode = ts.getModeForUsageLocation(sourceFile, specifier, options);
  const resolved = ts.resolveModuleName(specifier.text, sourceFile.fileName, options, ts.sys, cache, undefined, mode).resolvedModule;
  if (!resolved || resolved.isExternalLibraryImport || resolved.resolvedFileName.endsWith('.d.ts')) return undefined;
  return path.resolve(resolved.resolvedFileName);
}

/**
 * The project modules `fileName` imports, in any way.
 *
 * @param {ts.Program} program
 * @param {string} fileName
 * @returns {string[]}
 */
function importsOf(program, fileName) {
  let graph = graphs.get(program);
  if (!graph) graphs.set(program, (graph = new Map()));
  const known = graph.get(fileName);
  if (known) return known;
  /** @type {Set<string>} */
  const found = new Set();
  /** @param {ts.Node} specifier */
  const add = (specifier) => {
    const module = ts.isStringLiteralLike(specifier) ? moduleNamedBy(program, specifier) : undefined;
    if (module !== undefined) found.add(module);
  };
  /** @param {ts.Node} node */
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0]) add(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  const sourceFile = program.getSourceFile(fileName);
  if (sourceFile) visit(sourceFile);
  const imports = [...found];
  graph.set(fileName, imports);
  return imports;
}

/**
 * The shortest chain of imports from `from` to `to`, both ends included, or undefined if there is none.
 *
 * @param {ts.Program} program
 * @param {string} from
 * @param {string} to
 * @returns {string[] | undefined}
 */
function chainOfImports(program, from, to) {
  /** @type {Map<string, string | undefined>} module → the module it was reached from */
  const cameFrom = new Map([[from, undefined]]);
  const queue = [from];
  for (let module = queue.shift(); module !== undefined; module = queue.shift()) {
    if (module === to) {
      const chain = [];
      for (let step = /** @type {string | undefined} */ (to); step !== undefined; step = cameFrom.get(step)) chain.unshift(step);
      return chain;
    }
    for (const next of importsOf(program, module)) {
      if (cameFrom.has(next)) continue;
      cameFrom.set(next, module);
      queue.push(next);
    }
  }
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
const noTypeImportCycle = {
  meta: {
    type: 'problem',
    docs: { description: 'Forbid a type-only import of a module that imports, directly or not, the importing module.' },
    schema: [],
    messages: {
      cycle: 'Import cycle through a type-only import: {{chain}}. Move what both modules need into a module of its own.',
    },
  },
  create(context) {
    const program = context.sourceCode.parserServices?.program;
    if (!program) return {};
    const self = path.resolve(context.physicalFilename);
    const root = context.cwd;

    /**
     * @param {import('estree').Node} node what to report
     * @param {ts.Node | undefined} specifier the module's name in the TypeScript tree
     */
    const check = (node, specifier) => {
      const imported = specifier && ts.isStringLiteralLike(specifier) ? moduleNamedBy(program, specifier) : undefined;
      const chain = imported === undefined ? undefined : chainOfImports(program, imported, self);
      if (!chain) return;
      context.report({ node, messageId: 'cycle', data: { chain: [self, ...chain].map((file) => path.relative(root, file)).join(' → ') } });
    };
    /** @param {import('estree').Node} node */
    const tsNode = (node) => context.sourceCode.parserServices.esTreeNodeToTSNodeMap.get(node);

    return {
      /** @param {import('@typescript-eslint/types').TSESTree.ImportDeclaration} node */
      ImportDeclaration(node) {
        const typeOnly = node.importKind === 'type' || (node.specifiers.length > 0 && node.specifiers.every((s) => s.type === 'ImportSpecifier' && s.importKind === 'type'));
        if (typeOnly) check(node, tsNode(node.source));
      },
      /** @param {import('@typescript-eslint/types').TSESTree.ExportNamedDeclaration} node */
      ExportNamedDeclaration(node) {
        const typeOnly = node.exportKind === 'type' || (node.specifiers.length > 0 && node.specifiers.every((s) => s.exportKind === 'type'));
        if (node.source && typeOnly) check(node, tsNode(node.source));
      },
      /** @param {import('@typescript-eslint/types').TSESTree.ExportAllDeclaration} node */
      ExportAllDeclaration(node) {
        if (node.exportKind === 'type') check(node, tsNode(node.source));
      },
      /** @param {import('@typescript-eslint/types').TSESTree.TSImportType} node */
      TSImportType(node) {
        const argument = /** @type {ts.ImportTypeNode} */ (tsNode(node)).argument;
        if (ts.isLiteralTypeNode(argument)) check(node, argument.literal);
      },
    };
  },
};

/** The plugin eslint.config.js registers as `local`. */
export default { rules: { 'no-type-import-cycle': noTypeImportCycle } };
