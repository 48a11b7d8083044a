import { parseArgs } from 'node:util';

export function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(argv: string[], options: T) {
  return parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
}
