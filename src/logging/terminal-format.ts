// pino-pretty does this and much more (transports, worker threads, colour themes); one line per
// record with its fields is all a terminal needs, so it is not worth a dependency.

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[36m' },
  30: { name: 'INFO', color: '\x1b[32m' },
  40: { name: 'WARN', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[35m' },
};
const RESET = '\x1b[0m';
/** Fields every record has or that the line shows already. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err', 'v']);

/** A pino JSON line as "12:04:05 INFO  message key=value …", an error's stack below it. */
export function formatLogLine(json: string, options: { color: boolean }): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = LEVELS[record.level as number] ?? { name: String(record.level), color: '' };
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 19) : '';
  const label = level.name.padEnd(5);
  const fields = Object.entries(record)
    .filter(([key, value]) => !OMITTED.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  let line = [time, options.color ? `${level.color}${label}${RESET}` : label, record.msg ?? '', ...fields].filter((part) => part !== '').join(' ');
  const err = record.err as { stack?: string; message?: string } | undefined;
  if (err) line += `\n${(err.stack ?? err.message ?? '').replace(/^/gm, '    ')}`;
  return `${line}\n`;
}
