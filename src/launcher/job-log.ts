// A job's log file: JSON lines {source, timestamp, data, seq} written by the server only (the job
// cannot write it), numbered so a reader that follows a live job never loses or repeats a line.
// Both backends write through JobLogWriter and read through readJobLog, so logs look the same
// locally and from Kubernetes, and stay after the process (or pod) is gone.
import { EventEmitter } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { LogLine } from './launcher.js';

export type NumberedLine = LogLine & { seq: number };

export class JobLogWriter {
  /** Emits 'line' (NumberedLine) while open and 'end' once. */
  readonly events = new EventEmitter();
  private readonly stream: WriteStream;
  private seq: number;
  private ended = false;

  constructor(
    readonly logPath: string,
    options: { lastSeq?: number } = {},
  ) {
    mkdirSync(path.dirname(logPath), { recursive: true });
    this.stream = createWriteStream(logPath, { flags: 'a' });
    this.stream.on('error', () => undefined);
    this.seq = options.lastSeq ?? 0;
    this.events.setMaxListeners(0);
  }

  get open(): boolean {
    return !this.ended;
  }

  record(source: LogLine['source'], data: string, timestamp = new Date()): void {
    if (this.ended) return;
    const line: NumberedLine = { source, timestamp, data, seq: ++this.seq };
    this.stream.write(JSON.stringify(line) + '\n');
    this.events.emit('line', line);
  }

  /** Resolves once everything recorded so far is in the file. */
  flush(): Promise<void> {
    if (this.stream.closed || this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => this.stream.write('', () => resolve()));
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await new Promise<void>((resolve) => this.stream.end(resolve));
    this.events.emit('end');
  }
}

/**
 * The job's lines from the file, then (with `follow` and a live writer) new lines until the job
 * ends or `signal` aborts. Subscribes before reading the file so no line falls between the two;
 * sequence numbers drop the lines that turn up in both.
 */
export async function* readJobLog(logPath: string, writer: JobLogWriter | undefined, options: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<LogLine> {
  const pending: NumberedLine[] = [];
  let wake: (() => void) | undefined;
  let ended = !writer?.open || !options.follow;
  const onLine = (line: NumberedLine) => {
    pending.push(line);
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  if (!ended && writer) {
    writer.events.on('line', onLine);
    writer.events.once('end', onEnd);
    options.signal?.addEventListener('abort', onEnd, { once: true });
  }
  try {
    await writer?.flush();
    let last = 0;
    for await (const line of readLogFile(logPath)) {
      last = line.seq;
      yield strip(line);
    }
    while (true) {
      while (pending.length) {
        const line = pending.shift()!;
        if (line.seq > last) yield strip(line);
      }
      if (ended || options.signal?.aborted) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    writer?.events.off('line', onLine);
    writer?.events.off('end', onEnd);
    options.signal?.removeEventListener('abort', onEnd);
  }
}

export async function* readLogFile(file: string): AsyncIterable<NumberedLine> {
  const input = createReadStream(file);
  const ok = await new Promise<boolean>((resolve) => {
    input.once('open', () => resolve(true));
    input.once('error', () => resolve(false));
  });
  if (!ok) return;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    if (!text) continue;
    try {
      const raw = JSON.parse(text) as { source: 'stdout' | 'stderr'; timestamp: string; data: string; seq?: number };
      yield { source: raw.source, timestamp: new Date(raw.timestamp), data: raw.data, seq: raw.seq ?? 0 };
    } catch {
      // A torn last line after a crash: skip it.
    }
  }
}

/** The last complete line of a log file (to continue its numbering and its stream after a restart). */
export async function lastLogLine(file: string): Promise<NumberedLine | undefined> {
  let last: NumberedLine | undefined;
  for await (const line of readLogFile(file)) last = line;
  return last;
}

function strip({ source, timestamp, data }: NumberedLine): LogLine {
  return { source, timestamp, data };
}
