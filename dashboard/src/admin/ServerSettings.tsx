import { useResource } from '../api/use-resource';
import { ErrorMessage, Loading } from '../ui/feedback';

interface Setting {
  section: string;
  name: string;
  value: string;
  source: string;
  description: string;
}

/** Every effective setting and where it came from (read-only: settings live in the config file). */
export function ServerSettings() {
  const settings = useResource<Setting[]>('/__api__/v1/server_settings/effective');
  const sections = new Map<string, Setting[]>();
  for (const s of settings.data ?? []) sections.set(s.section, [...(sections.get(s.section) ?? []), s]);
  return (
    <section className="stack" aria-labelledby="settings-title">
      <h2 id="settings-title">Server settings</h2>
      <p className="hint">
        Read-only. Change them in the configuration file or with <code>LECTERN_SECTION_KEY</code> environment variables, then restart; <code>lectern config</code> prints the same list.
      </p>
      <ErrorMessage error={settings.error} />
      {!settings.data && !settings.error && <Loading />}
      {[...sections].map(([section, rows]) => (
        <div key={section} className="table-wrap">
          <table className="table settings-table">
            <caption>[{section}]</caption>
            <thead>
              <tr>
                <th scope="col">Setting</th>
                <th scope="col">Value</th>
                <th scope="col">Source</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.name}>
                  <th scope="row" title={s.description}>
                    {s.name}
                    <span className="hint block">{s.description}</span>
                  </th>
                  <td>
                    <code>{s.value === '' ? '(empty)' : s.value}</code>
                  </td>
                  <td>{s.source}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}
