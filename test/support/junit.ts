/**
 * The outcomes in a JUnit XML report as pytest writes it (`--junitxml`): one `<testcase>` per test,
 * holding a `<failure>`, `<error>` or `<skipped>` element when it did not pass. Only what pytest
 * writes is read (no DTD, no CDATA), so a few regular expressions suffice and no XML library is needed.
 */
export interface JunitCase {
  /** `classname.name`, e.g. `posit.connect.test_content.TestContent.test_count`. */
  id: string;
  outcome: 'passed' | 'failed' | 'error' | 'skipped';
  /** The failure's message attribute (pytest's one-line reason); empty for a pass. */
  message: string;
  /** The element's text: pytest's traceback for a failure or error. */
  detail: string;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name: string) => {
    if (name.startsWith('#x') || name.startsWith('#X')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    return ENTITIES[name] ?? whole;
  });
}

function attribute(attributes: string, name: string): string {
  const match = new RegExp(`\\b${name}="([^"]*)"`).exec(attributes);
  return match ? decodeEntities(match[1]!) : '';
}

export function parseJunit(xml: string): JunitCase[] {
  const cases: JunitCase[] = [];
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attributes = match[1]!;
    const body = match[2] ?? '';
    const id = `${attribute(attributes, 'classname')}.${attribute(attributes, 'name')}`;
    const element = /<(failure|error|skipped)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    if (!element) {
      cases.push({ id, outcome: 'passed', message: '', detail: '' });
      continue;
    }
    const kind = element[1] as 'failure' | 'error' | 'skipped';
    cases.push({ id, outcome: kind === 'failure' ? 'failed' : kind, message: attribute(element[2]!, 'message'), detail: decodeEntities(element[3] ?? '') });
  }
  return cases;
}
