import { useCallback, useState } from 'react';
import { Link } from 'wouter';
import { useResource } from '../api/use-resource';
import type { ContentItem } from '../api/types';
import { modeLabel, RENDERED_MODES } from '../ui/app-modes';
import { ErrorMessage, Loading } from '../ui/feedback';
import { StateBadge } from '../ui/StateBadge';
import { displayTitle } from './list-query';
import { useLiveState } from './live-state';
import { AccessPanel } from './panels/AccessPanel';
import { BundlesPanel } from './panels/BundlesPanel';
import { EnvironmentVariablesPanel } from './panels/EnvironmentVariablesPanel';
import { ExecutionPanel, type ExecutionDefaults } from './panels/ExecutionPanel';
import { InfoPanel } from './panels/InfoPanel';
import { LogsPanel } from './panels/LogsPanel';
import { RendersPanel } from './panels/RendersPanel';
import { RuntimePanel } from './panels/RuntimePanel';

interface PanelDef {
  id: string;
  label: string;
  editorsOnly: boolean;
  applies?(item: ContentItem, server: ExecutionDefaults | undefined): boolean;
}

const PANELS: PanelDef[] = [
  { id: 'info', label: 'Info', editorsOnly: false },
  { id: 'access', label: 'Access', editorsOnly: false },
  { id: 'runtime', label: 'Runtime', editorsOnly: true, applies: (c) => !RENDERED_MODES.includes(c.app_mode) && c.app_mode !== 'static' },
  { id: 'environment', label: 'Variables', editorsOnly: true },
  // Only where it takes effect: images, resources and service accounts mean nothing to local processes.
  { id: 'execution', label: 'Execution', editorsOnly: true, applies: (c, server) => server?.off_host_execution === true && c.app_mode !== 'static' },
  { id: 'bundles', label: 'Bundles', editorsOnly: true },
  { id: 'renders', label: 'Renders', editorsOnly: true, applies: (c) => RENDERED_MODES.includes(c.app_mode) },
  { id: 'logs', label: 'Logs', editorsOnly: true },
];

/** One content item: the live content in a frame, with panels for its settings. */
export function ContentItemView({ guid, panel, draft }: { guid: string; panel?: string; draft?: string }) {
  const item = useResource<ContentItem>(`/__api__/v1/content/${encodeURIComponent(guid)}?include=owner,tags,vanity_url,state`);
  // Bumped after a change (deploy, render, variables) so the frame shows the new version.
  const [frameVersion, setFrameVersion] = useState(0);
  // Counts the frame's loads: each visit may have started the app, so the badge asks again.
  const [frameLoads, setFrameLoads] = useState(0);
  const state = useLiveState(guid, item.data?.state, frameLoads);
  const canEdit = item.data?.app_role === 'owner' || item.data?.app_role === 'editor';
  // The scheduler settings say whether content runs off-host (editors are publishers: they may read them).
  const server = useResource<ExecutionDefaults>(canEdit ? '/__api__/v1/server_settings/scheduler' : null);
  const changed = useCallback(() => {
    item.reload();
    setFrameVersion((v) => v + 1);
  }, [item.reload]);
  if (item.error && !item.data) {
    return (
      <main className="page">
        <h1>Content not available</h1>
        <ErrorMessage error={item.error} />
        {item.error.status === 404 && <p>It may have been deleted, or it has not been shared with you: ask its owner for access.</p>}
        <p>
          <Link href="/">Back to the content list</Link>
        </p>
      </main>
    );
  }
  if (!item.data) return <Loading label="Loading content…" />;
  const content = item.data;
  const panels = PANELS.filter((p) => (!p.editorsOnly || canEdit) && (p.applies?.(content, server.data) ?? true));
  const active = panels.find((p) => p.id === panel) ?? panels[0]!;
  const frameUrl = draft ? `${content.content_url}_bundle${draft}/` : content.content_url;

  return (
    <main className="item">
      <div className="item-head">
        <div>
          <p className="breadcrumb">
            <Link href="/">Content</Link> / {modeLabel(content.app_mode)}
          </p>
          <h1>{displayTitle(content)}</h1>
        </div>
        <StateBadge state={state} />
      </div>
      <div className="item-body">
        <section className="viewer" aria-label="Content">
          <div className="toolbar" role="toolbar" aria-label="Content toolbar">
            {draft && <span className="badge state-deploying">Draft preview of bundle {draft}</span>}
            <a className="button secondary small" href={frameUrl} target="_blank" rel="noopener">
              Open in a new tab
            </a>
            <button type="button" className="secondary small" onClick={() => setFrameVersion((v) => v + 1)}>
              Reload
            </button>
            {draft && (
              <Link href={`/apps/${content.guid}/bundles`} className="button secondary small">
                Leave preview
              </Link>
            )}
          </div>
          {content.bundle_id === null && !draft ? (
            <div className="empty">
              <p className="empty-title">Nothing deployed yet</p>
              <p>Deploy a bundle with rsconnect-python, the rsconnect R package or the API; it appears here once its deployment succeeds.</p>
            </div>
          ) : (
            <iframe key={frameVersion} id="content-frame" title={`${displayTitle(content)} (live content)`} src={frameUrl} onLoad={() => setFrameLoads((n) => n + 1)} />
          )}
        </section>
        <section className="settings" aria-label="Settings">
          <nav className="tabs" aria-label="Content settings">
            {panels.map((p) => (
              <Link key={p.id} href={`/apps/${content.guid}/${p.id}`} className={p.id === active.id ? 'tab current' : 'tab'} aria-current={p.id === active.id ? 'page' : undefined}>
                {p.label}
              </Link>
            ))}
          </nav>
          <div className="panel">
            {active.id === 'info' && <InfoPanel content={content} onChanged={changed} />}
            {active.id === 'access' && <AccessPanel content={content} onChanged={changed} />}
            {active.id === 'runtime' && <RuntimePanel content={content} onChanged={changed} />}
            {active.id === 'execution' && server.data && <ExecutionPanel key={content.guid} content={content} defaults={server.data} onChanged={changed} />}
            {active.id === 'environment' && <EnvironmentVariablesPanel content={content} onChanged={changed} />}
            {active.id === 'bundles' && <BundlesPanel content={content} onChanged={changed} />}
            {active.id === 'renders' && <RendersPanel content={content} onChanged={changed} />}
            {active.id === 'logs' && <LogsPanel content={content} />}
          </div>
        </section>
      </div>
    </main>
  );
}
