import { useState, type FormEvent } from 'react';
import { api } from '../../api/client';
import { useAction } from '../../api/use-resource';
import type { ContentItem } from '../../api/types';
import { modeLabel } from '../../ui/app-modes';
import { ErrorMessage } from '../../ui/feedback';
import { displayName, formatDateTime } from '../../ui/format';

export function InfoPanel({ content, onChanged }: { content: ContentItem; onChanged(): void }) {
  const canEdit = content.app_role === 'owner' || content.app_role === 'editor';
  const [title, setTitle] = useState(content.title ?? '');
  const [description, setDescription] = useState(content.description);
  const [vanity, setVanity] = useState(content.vanity_url ? new URL(content.vanity_url).pathname : '');
  const [saved, setSaved] = useState('');
  const details = useAction();
  const vanityAction = useAction();

  async function saveDetails(e: FormEvent) {
    e.preventDefault();
    setSaved('');
    if (await details.run(() => api(`/__api__/v1/content/${content.guid}`, { method: 'PATCH', json: { title: title.trim() || null, description } }))) {
      setSaved('Saved.');
      onChanged();
    }
  }

  async function saveVanity(e: FormEvent) {
    e.preventDefault();
    const path = vanity.trim();
    const done = await vanityAction.run(() =>
      path ? api(`/__api__/v1/content/${content.guid}/vanity`, { method: 'PUT', json: { path } }) : api(`/__api__/v1/content/${content.guid}/vanity`, { method: 'DELETE' }).then(() => true),
    );
    if (done) onChanged();
  }

  return (
    <div className="stack">
      <h2>Info</h2>
      {canEdit ? (
        <form className="stack" onSubmit={saveDetails}>
          <ErrorMessage error={details.error} />
          <label>
            Title
            <input value={title} placeholder={content.name} onChange={(e) => setTitle(e.target.value)} />
          </label>
          <label>
            Description
            <textarea rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
          </label>
          <div className="row">
            <button type="submit" disabled={details.busy}>
              Save
            </button>
            <span role="status" className="hint">
              {saved}
            </span>
          </div>
        </form>
      ) : (
        content.description && <p>{content.description}</p>
      )}
      <dl className="facts">
        <dt>Type</dt>
        <dd>{modeLabel(content.app_mode)}</dd>
        <dt>Owner</dt>
        <dd>{displayName(content.owner)}</dd>
        <dt>Your role</dt>
        <dd>{content.app_role === 'none' ? 'none (you can view it because of its access setting)' : content.app_role}</dd>
        <dt>Content URL</dt>
        <dd>
          <a href={content.content_url} target="_blank" rel="noopener">
            {content.content_url}
          </a>
        </dd>
        {content.vanity_url && (
          <>
            <dt>Vanity URL</dt>
            <dd>
              <a href={content.vanity_url} target="_blank" rel="noopener">
                {content.vanity_url}
              </a>
            </dd>
          </>
        )}
        <dt>Name</dt>
        <dd>
          <code>{content.name}</code>
        </dd>
        <dt>GUID</dt>
        <dd>
          <code>{content.guid}</code>
        </dd>
        <dt>Created</dt>
        <dd>{formatDateTime(content.created_time)}</dd>
        <dt>Last deployed</dt>
        <dd>{content.last_deployed_time ? formatDateTime(content.last_deployed_time) : 'never'}</dd>
        {content.py_version && (
          <>
            <dt>Python</dt>
            <dd>{content.py_version}</dd>
          </>
        )}
        {content.r_version && (
          <>
            <dt>R</dt>
            <dd>{content.r_version}</dd>
          </>
        )}
        <dt>Tags</dt>
        <dd>
          {content.tags?.length
            ? content.tags.map((t) => (
                <span key={t.id} className="tag">
                  {t.name}
                </span>
              ))
            : 'none'}
        </dd>
      </dl>
      {canEdit && (
        <form className="stack" onSubmit={saveVanity}>
          <h3>Vanity path</h3>
          <ErrorMessage error={vanityAction.error} />
          <div className="field">
            <label>
              Path on this server
              <input value={vanity} placeholder="/team-dashboard/" onChange={(e) => setVanity(e.target.value)} aria-describedby="vanity-help" />
            </label>
            <span id="vanity-help" className="help">
              A memorable address such as <code>/sales/</code>. Leave empty to remove it.
            </span>
          </div>
          <div>
            <button type="submit" className="secondary" disabled={vanityAction.busy}>
              Save vanity path
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
