// Writes docs/configuration.md from the settings table (npm run docs:config).
import { writeFileSync } from 'node:fs';
import { settingsMarkdown } from '../src/config/docs.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), settingsMarkdown());
