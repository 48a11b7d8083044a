import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { DefinitionError, KUBERNETES, parseDefinition, type EnvironmentDefinition, type FieldPath } from './definition.js';

// The two YAML files administrators write: Connect's ClusterDefinition (`name: Kubernetes`,
// `images: [...]`, bootstrap only) and the declarative environments file (a list of environment
// objects, kept in sync live). Every problem is reported with the file and line.

export class DefinitionFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly reason: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${reason}`);
  }
}

const FILE_OPTIONS = { requireTitle: false, requireCluster: false, allowReadOnly: false };

/** `[Launcher] ClusterDefinition`: {name: Kubernetes, images: [{name, python|r|quarto: {installations}}]}. */
export function parseClusterDefinition(text: string, file: string): EnvironmentDefinition[] {
  const { doc, lines } = load(text, file);
  const root = doc.toJS() as unknown;
  const fail = (path: FieldPath, reason: string): never => {
    throw new DefinitionFileError(file, lineOf(doc, lines, path), reason);
  };
  if (root === null || typeof root !== 'object' || Array.isArray(root)) fail([], 'expected a cluster definition: name: Kubernetes and a list of images');
  const obj = root as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (key !== 'name' && key !== 'images') fail([key], `unknown field "${key}" (expected name, images)`);
  if (obj.name !== KUBERNETES) fail(['name'], `the cluster name must be "${KUBERNETES}", got ${JSON.stringify(obj.name ?? null)}`);
  if (!Array.isArray(obj.images)) fail(['images'], 'images must be a list of image definitions');
  return definitions(obj.images as unknown[], ['images'], doc, lines, file);
}

/** `[ExecutionEnvironments] ConfigFilePath`: a list of environment objects (an empty file = none). */
export function parseEnvironmentsFile(text: string, file: string): EnvironmentDefinition[] {
  const { doc, lines } = load(text, file);
  const root = doc.toJS() as unknown;
  if (root === null || root === undefined) return [];
  if (!Array.isArray(root)) throw new DefinitionFileError(file, lineOf(doc, lines, []), 'expected a list of environments (each starting with "- name: <image>")');
  return definitions(root, [], doc, lines, file);
}

function definitions(items: unknown[], at: FieldPath, doc: Document, lines: LineCounter, file: string): EnvironmentDefinition[] {
  const out: EnvironmentDefinition[] = [];
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    let def: EnvironmentDefinition;
    try {
      def = parseDefinition(item, FILE_OPTIONS, [...at, i]);
    } catch (err) {
      if (err instanceof DefinitionError) throw new DefinitionFileError(file, lineOf(doc, lines, err.path), err.message);
      throw err;
    }
    const first = seen.get(def.name);
    if (first !== undefined) {
      throw new DefinitionFileError(file, lineOf(doc, lines, [...at, i, 'name']), `image ${def.name} is defined twice (also at line ${lineOf(doc, lines, [...at, first, 'name'])})`);
    }
    seen.set(def.name, i);
    out.push(def);
  });
  return out;
}

function load(text: string, file: string): { doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) throw new DefinitionFileError(file, lines.linePos(error.pos[0]).line, `invalid YAML: ${error.message.split('\n')[0]}`);
  // `version: 3.10` is a float to YAML (3.1); keep every version exactly as written.
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'version' && isScalar(pair.value) && typeof pair.value.value === 'number' && pair.value.source) {
        pair.value.value = pair.value.source;
      }
    },
  });
  return { doc, lines };
}

/** The line of the deepest node that exists along `path` (the value itself, or its parent). */
function lineOf(doc: Document, lines: LineCounter, path: FieldPath): number | undefined {
  let node: unknown = doc.contents;
  let line = rangeLine(node as Node | null, lines);
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === part);
      if (!pair) break;
      line = rangeLine(pair.key as Node, lines) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part];
    } else {
      break;
    }
    line = rangeLine(node as Node | null, lines) ?? line;
  }
  return line;
}

function rangeLine(node: Node | null | undefined, lines: LineCounter): number | undefined {
  const start = node && 'range' in node ? node.range?.[0] : undefined;
  return start === undefined ? undefined : lines.linePos(start).line;
}
