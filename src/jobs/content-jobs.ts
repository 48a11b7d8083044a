// What the API shows of content's jobs and processes, and stopping one (src/api/jobs.ts).
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.js';
import type { ContentService } from '../content/content.js';
import type { Job, Process, Render } from '../contract/jobs.js';
import type { Content, Database, JobRow, User } from '../db/schema.js';
import { ErrorCode, LecternError, notFound } from '../errors.js';
import { apiTime } from '../util/ids.js';
import type { Jobs } from './jobs.js';

/** Connect's Job object (reference §5.7); ids are strings. */
export function jobJson(content: Content, job: JobRow): Job {
  return {
    id: String(job.id),
    ppid: null,
    pid: job.pid === null ? null : String(job.pid),
    key: job.key,
    remote_id: job.remote_id,
    app_id: String(content.id),
    content_id: String(content.id),
    content_guid: content.guid,
    variant_id: '0',
    variant_key: null,
    bundle_id: job.bundle_id === null ? null : String(job.bundle_id),
    start_time: apiTime(job.start_time),
    end_time: apiTime(job.end_time),
    last_heartbeat_time: apiTime(job.end_time ?? job.start_time),
    queued_time: apiTime(job.queued_time),
    queue_name: null,
    tag: job.tag,
    exit_code: job.exit_code,
    error: job.error,
    status: job.status,
    hostname: job.hostname,
    cluster: job.launcher === 'kubernetes' || job.image ? 'Kubernetes' : null,
    image: job.image,
    run_as: job.run_as,
    skip_reason: null,
  };
}

export class ContentJobs {
  constructor(private readonly services: { db: Kysely<Database>; content: ContentService; jobs: Jobs; audit: AuditLog; replicaName: string }) {}

  /** Content `user` may edit, and one of its jobs. */
  async find(user: User, guid: string, key: string): Promise<{ content: Content; job: JobRow }> {
    const content = await this.services.content.getEditable(guid, user);
    const job = await this.services.jobs.get(content.id, key);
    if (!job) throw notFound(`Job ${key} does not exist for content ${content.guid}.`);
    return { content, job };
  }

  /** Stops a running job (on this replica: the process is its child) and records who did. */
  async stop(user: User, content: Content, job: JobRow): Promise<void> {
    if (job.status === 0) {
      if (job.replica !== this.services.replicaName) {
        throw new LecternError('conflict', ErrorCode.BadRequest, `Job ${job.key} runs on the replica ${job.replica}; send the request to that replica.`);
      }
      await this.services.jobs.stop(job.key);
    }
    await this.services.audit.record(user, 'kill_job', `Stopped job ${job.key} of content ${content.guid}`);
  }

  /** The processes table: every content process this replica runs, with its CPU and memory. */
  async processes(): Promise<Process[]> {
    const replica = this.services.replicaName;
    const running = await this.services.jobs.launcher.list();
    const guids = [...new Set(running.map((j) => j.contentGuid))];
    const titles = new Map<string, { name: string; title: string | null }>();
    if (guids.length) {
      for (const c of await this.services.db.selectFrom('content').select(['guid', 'name', 'title']).where('guid', 'in', guids).execute()) titles.set(c.guid, c);
    }
    return running.map((j) => ({
      content_guid: j.contentGuid,
      content_name: titles.get(j.contentGuid)?.name ?? null,
      content_title: titles.get(j.contentGuid)?.title ?? null,
      job_key: j.key,
      kind: j.kind,
      tag: j.tag,
      pid: j.pid ?? null,
      hostname: j.hostname,
      address: j.address ? `${j.address.host}:${j.address.port}` : null,
      replica,
      start_time: apiTime(j.startTime.toISOString()),
      cpu_seconds: j.cpuSeconds ?? null,
      memory_bytes: j.memoryBytes ?? null,
      // Off-host: the pod, where it runs, what it may use, and how long each start-up phase took.
      ...(j.pod
        ? {
            replica: j.pod.replica ?? null,
            cpu_cores: j.cpuCores ?? null,
            pod: {
              name: j.pod.name,
              node: j.pod.node ?? null,
              phase: j.pod.phase,
              image: j.pod.image ?? null,
              cpu_request: j.pod.cpuRequest ?? null,
              cpu_limit: j.pod.cpuLimit ?? null,
              memory_request: j.pod.memoryRequestBytes ?? null,
              memory_limit: j.pod.memoryLimitBytes ?? null,
              scheduled_seconds: j.pod.scheduledSeconds ?? null,
              initialized_seconds: j.pod.initializedSeconds ?? null,
              ready_seconds: j.pod.readySeconds ?? null,
            },
          }
        : {}),
    }));
  }

  /** Render history of rendered content, newest first (the last 100). */
  async renders(content: Content): Promise<Render[]> {
    const rows = await this.services.db.selectFrom('renders').selectAll().where('content_id', '=', content.id).orderBy('id', 'desc').limit(100).execute();
    return rows.map((r) => ({
      id: String(r.id),
      bundle_id: String(r.bundle_id),
      task_id: r.task_id,
      job_key: r.job_key,
      state: r.state,
      error: r.error,
      active: content.render_id === r.id,
      created_time: apiTime(r.created_time),
      finished_time: apiTime(r.finished_time),
    }));
  }
}
