// Human names for Connect's app modes, grouped the way the content list filters them: read from
// the server's one declaration of the modes (src/content/app-modes.ts), never copied.
import { APP_MODE_TABLE, APP_MODES, appModesOfKind, type AppModeSpec, type ContentGroup } from '../../../src/content/app-modes.js';

export interface ContentType {
  id: ContentGroup;
  label: string;
  modes: string[];
}

const GROUP_LABELS: Record<ContentGroup, string> = { app: 'Application', api: 'API', document: 'Document', site: 'Static site' };

const spec = (mode: string): AppModeSpec | undefined => (Object.hasOwn(APP_MODE_TABLE, mode) ? (APP_MODE_TABLE as Record<string, AppModeSpec>)[mode] : undefined);

export const CONTENT_TYPES: ContentType[] = (Object.keys(GROUP_LABELS) as ContentGroup[]).map((id) => ({
  id,
  label: GROUP_LABELS[id],
  modes: APP_MODES.filter((m) => spec(m)?.group === id),
}));

export function modeLabel(appMode: string): string {
  return spec(appMode)?.label ?? appMode;
}

export function contentTypeOf(appMode: string): ContentType | undefined {
  return CONTENT_TYPES.find((t) => t.modes.includes(appMode));
}

export const RENDERED_MODES: string[] = appModesOfKind('rendered');
