import { requireRole, requireUser } from '../auth/principal.js';
import type { Content, JobRow } from '../db/schema.js';
import { appModeKind } from '../content/app-modes.js';
import { ErrorCode, LecternError, notFound } from '../errors.js';
import { intParam } from '../http/query.js';
import type { RoutePlugin } from '../http/routing.js';
import { apiTime } from '../util/ids.js';

/** Connect's Job object (reference §5.7); ids are strings. */
export function jobJson(content: Content, job: JobRow) {
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

export const jobRoutes: RoutePlugin = (server, app) => {
  async function load(request: { params: unknown; principal: unknown } & Parameters<typeof requireUser>[0]) {
    const user = requireUser(request);
    const { guid, key } = request.params as { guid: string; key?: string };
    const content = await app.content.getEditable(guid, user);
    if (key === undefined) return { user, content, job: undefined };
    const job = await app.jobs.get(content.id, key);
    if (!job) throw notFound(`Job ${key} does not exist for content ${content.guid}.`);
    return { user, content, job };
  }

  server.get('/__api__/v1/content/:guid/jobs', async (request) => {
    const { content } = await load(request);
    return (await app.jobs.list(content.id)).map((j) => jobJson(content, j));
  });

  server.get('/__api__/v1/content/:guid/jobs/:key', async (request) => {
    const { content, job } = await load(request);
    return jobJson(content, job!);
  });

  server.get('/__api__/v1/content/:guid/jobs/:key/log', async (request) => {
    const { job } = await load(request);
    const max = intParam(request.query as Record<string, string | undefined>, 'maxLogLines', 5000, 1, 1_000_000);
    const entries: Array<{ source: string; timestamp: string | null; data: string }> = [];
    for await (const line of app.jobs.logs(job!)) {
      entries.push({ source: line.source, timestamp: apiTime(line.timestamp.toISOString()), data: line.data });
      if (entries.length > max) entries.shift();
    }
    return { entries };
  });

  // Streams log entries as JSON lines until the job ends or the client goes away.
  server.get('/__api__/v1/content/:guid/jobs/:key/tail', async (request, reply) => {
    const { job } = await load(request);
    const abort = new AbortController();
    request.raw.once('close', () => abort.abort());
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    for await (const line of app.jobs.logs(job!, { follow: job!.status === 0, signal: abort.signal })) {
      reply.raw.write(JSON.stringify({ source: line.source, timestamp: apiTime(line.timestamp.toISOString()), data: line.data }) + '\n');
    }
    reply.raw.end();
    return reply;
  });

  server.get('/__api__/v1/content/:guid/jobs/:key/error', async (request, reply) => {
    const { job } = await load(request);
    if (!job!.error) return reply.code(204).send();
    return { code: job!.exit_code ?? 1, summary: job!.error, help_url: null };
  });

  server.delete('/__api__/v1/content/:guid/jobs/:key', async (request) => {
    const { user, content, job } = await load(request);
    if (job!.status === 0) {
      if (job!.replica !== app.config.replicaName()) {
        throw new LecternError('conflict', ErrorCode.BadRequest, `Job ${job!.key} runs on the replica ${job!.replica}; send the request to that replica.`);
      }
      await app.jobs.stop(job!.key);
    }
    await app.audit.record(user, 'kill_job', `Stopped job ${job!.key} of content ${content.guid}`);
    return {
      guid: content.guid,
      app_id: content.id,
      app_guid: content.guid,
      content_id: content.id,
      content_guid: content.guid,
      job_id: job!.id,
      job_key: job!.key,
      result: 'Order to kill job registered',
    };
  });

  // The processes table: every content process this replica runs, with its CPU and memory.
  server.get('/__api__/v1/system/processes', async (request) => {
    requireRole(request, 'administrator');
    const running = await app.jobs.launcher.list();
    const guids = [...new Set(running.map((j) => j.contentGuid))];
    const titles = new Map<string, { name: string; title: string | null }>();
    if (guids.length) {
      for (const c of await app.store.db.selectFrom('content').select(['guid', 'name', 'title']).where('guid', 'in', guids).execute()) titles.set(c.guid, c);
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
      replica: app.config.replicaName(),
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
  });

  server.post('/__api__/v1/content/:guid/render', async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable((request.params as { guid: string }).guid, user);
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw new LecternError('invalid', ErrorCode.InvalidJson, 'The request body must be a JSON object.');
    if (content.bundle_id === null) throw new LecternError('invalid', ErrorCode.BundleMissing, `Content ${content.guid} has not been deployed yet.`);
    if (appModeKind(content.app_mode) !== 'rendered') {
      throw new LecternError('invalid', ErrorCode.BadRequest, `Only rendered content (R Markdown, Jupyter, Quarto documents) can be rendered; this is ${content.app_mode} content.`);
    }
    const task = await app.queue.enqueue('render', { contentId: content.id, bundleId: content.bundle_id, userId: user.id, params: { variant_key: body.variant_key ?? null } });
    await app.audit.record(user, 'render_application', `Queued a render of content ${content.guid} (task ${task.id})`);
    return reply.code(202).send({ task_id: task.id });
  });

  // Render history of rendered content, newest first.
  server.get('/__api__/v1/content/:guid/renders', async (request) => {
    const { content } = await load(request);
    const rows = await app.store.db.selectFrom('renders').selectAll().where('content_id', '=', content.id).orderBy('id', 'desc').limit(100).execute();
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
  });
};

