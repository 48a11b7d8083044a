import { readFileSync } from 'node:fs';

/**
 * Lectern's version is package.json's and nothing else's. The file is read where the server runs:
 * src/ (under tsx) and dist/ (built) are both one level below the package root, and npm packages
 * and the server image ship package.json there (deploy/images/server/Dockerfile copies it).
 */
export const LECTERN_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
