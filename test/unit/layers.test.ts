// The layer order of src/ (docs/architecture.md, "Layers"): a file may import from its own layer or
// any layer below it, never from one above. Every import counts: static, `export … from`, dynamic
// `import()`, and type-only ones (`import type`, `import('…').T`), because a type names what a
// module depends on even though it is erased when compiled.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const SRC = path.resolve(import.meta.dirname, '../../src');

/** Top to bottom. A path ending in "/" is a folder; otherwise a file directly under src/. */
const LAYERS: Array<{ name: string; paths: string[] }> = [
  { name: 'entry', paths: ['cli/'] },
  { name: 'server', paths: ['server.ts', 'routes.ts'] },
  { name: 'API routes', paths: ['api/'] },
  { name: 'content serving', paths: ['serve/'] },
  { name: 'HTTP', paths: ['http/', 'app.ts'] },
  { name: 'deployments', paths: ['deployments/'] },
  { name: 'scheduler', paths: ['scheduler/'] },
  { name: 'execution', paths: ['execution/'] },
  { name: 'domain', paths: ['content/', 'bundles/', 'execution-environments/', 'users/', 'auth/', 'audit/', 'instrumentation/', 'oauth/', 'tasks/', 'jobs/'] },
  { name: 'backends', paths: ['launcher/', 'runtimes/', 'git/'] },
  { name: 'base', paths: ['db/', 'storage/', 'config/', 'logging/', 'secrets/', 'util/', 'errors.ts', 'startup-error.ts', 'version.ts', 'contract/'] },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Index into LAYERS of a file under src/, or -1 when no layer names it. */
function layerOf(file: string): number {
  const relative = path.relative(SRC, file).split(path.sep).join('/');
  return LAYERS.findIndex((layer) => layer.paths.some((p) => (p.endsWith('/') ? relative.startsWith(p) : relative === p)));
}

/** Every module specifier a file names, with its line. */
export function importsOf(fileName: string, text: string): Array<{ specifier: string; line: number }> {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: Array<{ specifier: string; line: number }> = [];
  const add = (node: ts.Node, literal: ts.Node | undefined) => {
    if (literal && ts.isStringLiteralLike(literal)) found.push({ specifier: literal.text, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node, node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node, node.moduleReference.expression);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const describe = (index: number) => `${LAYERS[index]!.name} (${LAYERS[index]!.paths.join(' ')})`;

test('the import parser sees static, re-exported, dynamic and type-only imports', () => {
  const text = [
    "import { a } from './a.js';",
    "import type { B } from './b.js';",
    "export { c } from './c.js';",
    "import './d.js';",
    "const e = await import('./e.js');",
    "let f: import('./f.js').F;",
    "const g = 'import(\"./not-an-import.js\")'; // import('./nor-this.js')",
  ].join('\n');
  assert.deepEqual(
    importsOf('x.ts', text).map((i) => i.specifier),
    ['./a.js', './b.js', './c.js', './d.js', './e.js', './f.js'],
  );
});

test('every file under src/ belongs to a layer', () => {
  const unplaced = sourceFiles(SRC)
    .filter((file) => layerOf(file) === -1)
    .map((file) => path.relative(SRC, file));
  assert.deepEqual(unplaced, [], `Place these in a layer (test/unit/layers.test.ts and docs/architecture.md, "Layers"): ${unplaced.join(', ')}`);
});

test('no file under src/ imports from a layer above its own', () => {
  const wrongWay: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    for (const { specifier, line } of importsOf(file, readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue; // packages and node: builtins sit below every layer
      const target = path.resolve(path.dirname(file), specifier).replace(/\.js$/, '.ts');
      if (!target.startsWith(SRC + path.sep)) {
        wrongWay.push(`src/${path.relative(SRC, file)}:${line} imports ${specifier}, outside src/`);
        continue;
      }
      const to = layerOf(target);
      if (to !== -1 && to < from) {
        wrongWay.push(`src/${path.relative(SRC, file)}:${line} imports ${specifier}: ${describe(from)} may not import from ${describe(to)}, a layer above it`);
      }
    }
  }
  assert.deepEqual(wrongWay, [], `Imports that run up the layers:\n${wrongWay.join('\n')}`);
});
