import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The runtime/ folder shipped with Lectern (same place from src/ under tsx and from dist/). */
export const RUNTIME_DIR: string = (() => {
  // Developers may point Lectern at a working copy of the runners.
  if (process.env.LECTERN_RUNTIME_DIR) return path.resolve(process.env.LECTERN_RUNTIME_DIR);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'runtime');
    if (existsSync(path.join(candidate, 'python'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('Lectern installation is incomplete: its runtime/ folder is missing');
})();
