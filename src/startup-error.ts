/**
 * A reason Lectern cannot start (or a command cannot run) that the operator can fix. `lectern`
 * prints it as one line, what is wrong then what to do, and exits non-zero: never a stack trace.
 */
export class StartupError extends Error {
  /** `fix` null: the message already says what to do (the Kubernetes and sandbox checks' texts). */
  constructor(problem: string, fix: string | null) {
    super(oneLine(fix === null ? problem : `${problem.replace(/[.\s]+$/, '')}. To fix it: ${fix.replace(/\.$/, '')}.`));
  }
}

/** One line of an error's message: what a library reports may span several. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
