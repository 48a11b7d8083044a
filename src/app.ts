import { mkdirSync } from 'node:fs';
import { AuditLog } from './audit/audit-log.js';
import { Bundles } from './bundles/bundles.js';
import type { Config } from './config/config.js';
import { ContentService } from './content/content.js';
import { migrate, openStore, type Store } from './db/database.js';
import { registerDeployTasks } from './deploy/deploy.js';
import { SecretBox } from './secrets/secret-box.js';
import { DataDir } from './storage/data-dir.js';
import { LocalTaskEvents, PostgresTaskEvents, type TaskEvents } from './tasks/events.js';
import { TaskQueue } from './tasks/queue.js';
import { Users } from './users/users.js';

export const LECTERN_VERSION = '0.1.0';

/** Every service of one Lectern replica, wired once; HTTP routes and the CLI take what they need. */
export interface App {
  config: Config;
  store: Store;
  dataDir: DataDir;
  secrets: SecretBox;
  users: Users;
  content: ContentService;
  bundles: Bundles;
  queue: TaskQueue;
  audit: AuditLog;
  close(): Promise<void>;
}

export async function createApp(config: Config, options: { runTasks?: boolean; log?: (msg: string, err?: unknown) => void } = {}): Promise<App> {
  const dataDir = new DataDir(config.dataDir());
  mkdirSync(dataDir.root, { recursive: true });
  const store = openStore(config);
  await migrate(store);
  const db = store.db;
  let events: TaskEvents;
  if (store.postgresUrl) {
    const pgEvents = new PostgresTaskEvents(store.postgresUrl);
    await pgEvents.start();
    events = pgEvents;
  } else {
    events = new LocalTaskEvents();
  }
  const audit = new AuditLog(db);
  const bundles = new Bundles(db, dataDir, {
    maxUploadBytes: config.get('Bundles.MaxUploadSize'),
    maxExtractedBytes: config.get('Bundles.MaxExtractedSize'),
    maxFiles: config.get('Bundles.MaxFiles'),
  });
  const queue = new TaskQueue(db, store.dialect, events, {
    replica: config.replicaName(),
    leaseMs: config.get('Tasks.LeaseTimeout'),
    pollMs: config.get('Tasks.PollInterval'),
    maxAttempts: config.get('Tasks.MaxAttempts'),
    concurrency: config.get('Tasks.Concurrency'),
    log: options.log,
  });
  registerDeployTasks(queue, { db, bundles, audit });
  if (options.runTasks !== false) queue.start();
  return {
    config,
    store,
    dataDir,
    secrets: SecretBox.fromConfig(config.get('Server.SecretKey'), dataDir.secretKeyFile()),
    users: new Users(db),
    content: new ContentService(db),
    bundles,
    queue,
    audit,
    async close() {
      await queue.stop();
      await events.close();
      await store.close();
    },
  };
}
