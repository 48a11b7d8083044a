import { invalidParameter } from '../errors.js';

export type Query = Record<string, string | undefined>;

/** An integer query parameter within [min, max]; a bad value is a 400 with code 25. */
export function intParam(q: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = q[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw invalidParameter(`Invalid ${name} ${JSON.stringify(raw)}: expected an integer.`);
  const n = Number(raw);
  if (n < min || n > max) throw invalidParameter(`Invalid ${name} ${n}: expected a value between ${min} and ${max}.`);
  return n;
}

export function boolParam(q: Query, name: string, fallback: boolean): boolean {
  const raw = q[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw invalidParameter(`Invalid ${name} ${JSON.stringify(raw)}: expected true or false.`);
}
