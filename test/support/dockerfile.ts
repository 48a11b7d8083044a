import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

// A small, strict reader of the Dockerfile instructions Lectern's images use (FROM, ARG, ENV, COPY,
// RUN, WORKDIR, USER, ENTRYPOINT, CMD, EXPOSE, VOLUME), and of .dockerignore, so tests can check what
// an image copies and creates without a container engine. Anything else is an error rather than
// silently ignored: a Dockerfile that grows a new instruction must grow this reader too.

export interface Instruction {
  keyword: string;
  /** The arguments, variables expanded as the builder would (ARG and ENV seen so far in the stage). */
  args: string;
  /** Exec form (`["node", "x"]`) parsed, else undefined. */
  exec?: string[];
  /** `--name=value` flags (COPY --from, --chown, …). */
  flags: Record<string, string>;
  line: number;
}

export interface Stage {
  /** The base image, expanded. */
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  stages: Stage[];
  /** Global ARGs (before the first FROM) with their defaults. */
  globalArgs: Record<string, string>;
}

const KNOWN = new Set(['FROM', 'ARG', 'ENV', 'COPY', 'RUN', 'WORKDIR', 'USER', 'ENTRYPOINT', 'CMD', 'EXPOSE', 'VOLUME']);

export class DockerfileError extends Error {
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

export function parseDockerfile(text: string, file: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  let vars: Record<string, string> = {};
  for (const { text: logical, line } of logicalLines(text)) {
    const match = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(logical);
    if (!match) throw new DockerfileError(file, line, `cannot read instruction ${JSON.stringify(logical)}`);
    const keyword = match[1]!.toUpperCase();
    if (!KNOWN.has(keyword)) throw new DockerfileError(file, line, `instruction ${keyword} is not understood by this reader`);
    let rest = match[2]!.trim();
    const flags: Record<string, string> = {};
    for (let flag = /^--([a-z-]+)=(\S+)\s+/.exec(rest); flag; flag = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
      flags[flag[1]!] = flag[2]!;
      rest = rest.slice(flag[0].length);
    }
    if (keyword === 'FROM') {
      const [image, as, name] = expand(rest, { ...globalArgs }, file, line).split(/\s+/);
      if (!image || (as !== undefined && (as.toUpperCase() !== 'AS' || !name))) throw new DockerfileError(file, line, 'expected FROM <image> [AS <name>]');
      stages.push({ from: image, name, instructions: [] });
      // A stage sees the global ARGs only when it declares them again (an ARG without a value).
      vars = {};
      continue;
    }
    if (keyword === 'ARG') {
      const arg = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest);
      if (!arg) throw new DockerfileError(file, line, `expected ARG NAME[=default], got ${JSON.stringify(rest)}`);
      const [, name, value] = arg;
      const resolved = value !== undefined ? expand(unquote(value), vars, file, line) : stages.length ? globalArgs[name!] : undefined;
      if (!stages.length) {
        if (resolved === undefined) throw new DockerfileError(file, line, `global ARG ${name} needs a default`);
        globalArgs[name!] = resolved;
      } else {
        if (resolved === undefined) throw new DockerfileError(file, line, `ARG ${name} has no default here or before the first FROM`);
        vars[name!] = resolved;
      }
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new DockerfileError(file, line, `${keyword} before the first FROM`);
    if (keyword === 'ENV') {
      for (const [name, value] of envPairs(rest, file, line)) vars[name] = expand(value, vars, file, line);
    }
    // RUN is run by a shell, which expands variables itself: keep the shell's view (ARG/ENV are
    // environment variables there) by expanding the ones the builder knows.
    const args = keyword === 'ENV' ? rest : expand(rest, vars, file, line);
    let exec: string[] | undefined;
    if (args.startsWith('[')) {
      try {
        exec = JSON.parse(args) as string[];
      } catch {
        throw new DockerfileError(file, line, `${keyword} exec form is not a JSON array: ${args}`);
      }
      if (!Array.isArray(exec) || exec.some((s) => typeof s !== 'string')) throw new DockerfileError(file, line, `${keyword} exec form must be a list of strings`);
    }
    stage.instructions.push({ keyword, args, exec, flags, line });
  }
  if (!stages.length) throw new DockerfileError(file, 1, 'no FROM instruction');
  return { stages, globalArgs };
}

/** COPY's sources and destination (shell form split on whitespace, or exec form). */
export function copyParts(instruction: Instruction): { sources: string[]; destination: string } {
  const words = instruction.exec ?? instruction.args.split(/\s+/);
  if (words.length < 2) throw new Error(`line ${instruction.line}: COPY needs a source and a destination`);
  return { sources: words.slice(0, -1), destination: words.at(-1)! };
}

/** The instruction lines with comments, parser directives and blank lines dropped and continuations joined. */
function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let current: string[] = [];
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && !current.length)) return;
    if (!current.length) start = index + 1;
    if (trimmed.endsWith('\\')) {
      current.push(trimmed.slice(0, -1));
      return;
    }
    current.push(trimmed);
    out.push({ text: current.join(' ').replace(/\s+/g, ' ').trim(), line: start });
    current = [];
  });
  if (current.length) out.push({ text: current.join(' ').trim(), line: start });
  return out;
}

/** $NAME, ${NAME}, ${NAME:-default}; unknown names stay as written (the shell's, in RUN). */
function expand(text: string, vars: Record<string, string>, file: string, line: number): string {
  const expanded = text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, braced?: string, fallback?: string, bare?: string) => {
    const name = braced ?? bare!;
    if (name in vars) return vars[name]!;
    return fallback ?? whole;
  });
  if (/\$\{[^}]*$/.test(expanded)) throw new DockerfileError(file, line, `unterminated \${ in ${JSON.stringify(text)}`);
  return expanded;
}

function unquote(value: string): string {
  return /^"(.*)"$/.test(value) ? value.slice(1, -1) : value;
}

/** ENV a=1 b="two words" (the key=value form only). */
function envPairs(text: string, file: string, line: number): [string, string][] {
  const pairs: [string, string][] = [];
  const pattern = /\s*([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/y;
  let at = 0;
  while (at < text.length) {
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match) throw new DockerfileError(file, line, `expected ENV NAME=value ..., got ${JSON.stringify(text.slice(at))}`);
    pairs.push([match[1]!, unquote(match[2]!)]);
    at = pattern.lastIndex;
    while (text[at] === ' ') at++;
  }
  return pairs;
}

// ---------------------------------------------------------------- .dockerignore

/**
 * The build context's exclusion rules, as the builder applies them: patterns are paths relative to
 * the context root (a leading "/" is dropped) with `*`, `?` and `**`; a matching directory excludes
 * everything below it; `!pattern` re-includes; the last matching rule wins.
 */
export class DockerIgnore {
  private readonly rules: { exclude: boolean; pattern: RegExp; source: string }[];

  constructor(text: string) {
    this.rules = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const exclude = !l.startsWith('!');
        const source = path.posix.normalize((exclude ? l : l.slice(1)).trim().replace(/^\/+/, ''));
        return { exclude, source, pattern: globRegExp(source) };
      });
  }

  /** Whether `relative` (a path inside the context) is left out of the context. */
  excludes(relative: string): boolean {
    const normalized = path.posix.normalize(relative).replace(/^\.\//, '').replace(/\/$/, '');
    const parts = normalized.split('/');
    let excluded = false;
    for (const rule of this.rules) {
      // A rule matches the path itself or any directory above it.
      for (let i = 1; i <= parts.length; i++) {
        if (rule.pattern.test(parts.slice(0, i).join('/'))) {
          excluded = rule.exclude;
          break;
        }
      }
    }
    return excluded;
  }

  /** The files of `relative` (a file or a directory, recursively) that are in the context. */
  filesIn(root: string, relative: string): string[] {
    const full = path.join(root, relative);
    if (!existsSync(full) || this.excludes(relative)) return [];
    if (!statSync(full).isDirectory()) return [relative];
    return readdirSync(full).flatMap((name) => this.filesIn(root, path.posix.join(relative, name)));
  }
}

function globRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // "**/" matches zero or more directories; a trailing "**" matches everything below.
      if (glob[i + 2] === '/') {
        out += '(?:.*/)?';
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
