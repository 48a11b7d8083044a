// Writes runtime/python/app_modes.json from the one app-mode table (src/content/app-modes.ts), so
// the Python runtime, which cannot import TypeScript, reads the same declaration as the server.
// Run after changing the table: node --import tsx scripts/generate-app-modes.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pythonRuntimeModes } from '../src/content/app-modes.js';

export const PYTHON_APP_MODES_FILE = fileURLToPath(new URL('../runtime/python/app_modes.json', import.meta.url));

export function pythonAppModesJson(): string {
  return `${JSON.stringify(pythonRuntimeModes(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(PYTHON_APP_MODES_FILE, pythonAppModesJson());
  console.log(`wrote ${PYTHON_APP_MODES_FILE}`);
}
