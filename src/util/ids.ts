import { createHash, randomBytes, randomUUID } from 'node:crypto';

export const newGuid = (): string => randomUUID();

/** URL-safe random token; 32 bytes = 256 bits unless told otherwise. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url');

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

export const nowIso = (): string => new Date().toISOString();

/** Connect renders times without milliseconds ("2023-10-19T18:52:18Z"); a time that is always set stays a string. */
export function apiTime(iso: string): string;
export function apiTime(iso: string | null | undefined): string | null;
export function apiTime(iso: string | null | undefined): string | null {
  return iso ? iso.replace(/\.\d{3}Z$/, 'Z') : null;
}

export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
