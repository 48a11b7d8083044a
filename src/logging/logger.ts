import { pino, type Logger } from 'pino';
import { formatLogLine } from './terminal-format.js';

export type { Logger };

/**
 * Lectern's one logger (Fastify's too): JSON lines on standard error, the same records as
 * readable lines when standard error is a terminal.
 */
export function createLogger(level: string, destination: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): Logger {
  const stream = destination.isTTY ? { write: (line: string) => void destination.write(formatLogLine(line, { color: true })) } : destination;
  return pino({ level }, stream);
}
