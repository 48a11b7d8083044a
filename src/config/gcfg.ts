// A reader for gcfg/git-config style files: `[Section]`, `[Section "name"]`, `Key = value`,
// repeated keys for lists, `;` and `#` comments, double-quoted values with \" \\ \n \t escapes.
// Every value keeps its line number so configuration errors can point at the exact place.

export interface GcfgEntry {
  section: string;
  subsection: string | null;
  key: string;
  value: string;
  line: number;
}

export class GcfgSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
  }
}

const SECTION = /^\[\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:"((?:[^"\\]|\\.)*)")?\s*\]$/;
const KEY_VALUE = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/;

export function parseGcfg(text: string, file: string): GcfgEntry[] {
  const entries: GcfgEntry[] = [];
  let section: string | null = null;
  let subsection: string | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith(';') || trimmed.startsWith('#')) return;
    if (trimmed.startsWith('[')) {
      const match = SECTION.exec(stripComment(trimmed, file, line));
      if (!match) throw new GcfgSyntaxError(file, line, `invalid section header ${JSON.stringify(trimmed)}`);
      section = match[1]!;
      subsection = match[2] === undefined ? null : unescapeQuoted(match[2], file, line);
      return;
    }
    const match = KEY_VALUE.exec(trimmed);
    if (!match) throw new GcfgSyntaxError(file, line, `expected "Key = value", found ${JSON.stringify(trimmed)}`);
    if (section === null) throw new GcfgSyntaxError(file, line, `"${match[1]}" appears before any [Section] header`);
    // A bare key ("Enabled") means true, as in git-config.
    const value = match[2] === undefined ? 'true' : parseValue(match[2], file, line);
    entries.push({ section, subsection, key: match[1]!, value, line });
  });
  return entries;
}

function stripComment(text: string, file: string, line: number): string {
  return parseValue(text, file, line, true);
}

/** Reads a value: quoted parts are literal, an unquoted `;` or `#` starts a comment. */
function parseValue(text: string, file: string, line: number, keepQuotes = false): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === undefined) throw new GcfgSyntaxError(file, line, 'line ends with a backslash');
      out += keepQuotes ? ch + next : escapeChar(next, file, line);
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      if (keepQuotes) out += ch;
    } else if (!quoted && (ch === ';' || ch === '#')) {
      break;
    } else {
      out += ch;
    }
  }
  if (quoted) throw new GcfgSyntaxError(file, line, 'unterminated quoted value');
  return keepQuotes ? out.trim() : out.trim();
}

function unescapeQuoted(text: string, file: string, line: number): string {
  return text.replace(/\\(.)/g, (_, ch: string) => escapeChar(ch, file, line));
}

function escapeChar(ch: string, file: string, line: number): string {
  switch (ch) {
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case '"':
    case '\\':
      return ch;
    default:
      throw new GcfgSyntaxError(file, line, `unknown escape \\${ch}`);
  }
}
