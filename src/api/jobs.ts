import { Type } from 'typebox';
import { noContent, requireRole, requireUser } from '../auth/principal.js';
import { answers, ContentGuidParams, NoContent } from '../contract/common.js';
import { Job, JobError, JobKilled, JobLog, JobLogDownloadQuery, JobLogQuery, JobParams, LogEntry, Process, Render, RenderBody } from '../contract/jobs.js';
import { TaskStarted } from '../contract/tasks.js';
import type { RoutePlugin } from '../http/routing.js';
import { ContentJobs, jobJson } from '../jobs/content-jobs.js';
import type { LogLine } from '../launcher/launcher.js';
import { apiTime } from '../util/ids.js';

const DEFAULT_LOG_LINES = 5000;

const logEntry = (line: LogLine): LogEntry => ({ source: line.source, timestamp: apiTime(line.timestamp.toISOString()), data: line.data });

export const jobRoutes: RoutePlugin = (server, app) => {
  const contentJobs = new ContentJobs({ db: app.store.db, content: app.content, jobs: app.jobs, audit: app.audit, replicaName: app.config.replicaName() });
  const deploys = app.deployRequests;

  server.get('/__api__/v1/content/:guid/jobs', { schema: { summary: "Content's jobs", params: ContentGuidParams, response: answers({ 200: Type.Array(Job) }) } }, async (request) => {
    const content = await app.content.getEditable(request.params.guid, requireUser(request));
    return (await app.jobs.list(content.id)).map((j) => jobJson(content, j));
  });

  server.get('/__api__/v1/content/:guid/jobs/:key', { schema: { summary: 'A job', params: JobParams, response: answers({ 200: Job }) } }, async (request) => {
    const { content, job } = await contentJobs.find(requireUser(request), request.params.guid, request.params.key);
    return jobJson(content, job);
  });

  const log = { summary: "A job's log", params: JobParams, querystring: JobLogQuery, response: answers({ 200: JobLog }) };
  server.get('/__api__/v1/content/:guid/jobs/:key/log', { schema: log }, async (request) => {
    const { job } = await contentJobs.find(requireUser(request), request.params.guid, request.params.key);
    const max = request.query.maxLogLines ?? DEFAULT_LOG_LINES;
    const entries: LogEntry[] = [];
    for await (const line of app.jobs.logs(job)) {
      entries.push(logEntry(line));
      if (entries.length > max) entries.shift();
    }
    return { entries };
  });

  // The whole log as text, one line per entry, saved under the name the client asks for.
  const text = { description: "The job's output, one line per log entry.", content: { 'text/plain': { schema: Type.String() } } };
  const download = { summary: "Download a job's log", params: JobParams, querystring: JobLogDownloadQuery, response: answers({ 200: text }) };
  server.get('/__api__/v1/content/:guid/jobs/:key/download', { schema: download }, async (request, reply) => {
    const { job } = await contentJobs.find(requireUser(request), request.params.guid, request.params.key);
    const filename = (request.query.filename || `${job.key}.log`).replace(/[^A-Za-z0-9._-]/g, '_');
    let body = '';
    for await (const line of app.jobs.logs(job)) body += `${line.data}\n`;
    return reply.type('text/plain; charset=utf-8').header('content-disposition', `attachment; filename="${filename}"`).send(body);
  });

  // Streams log entries as JSON lines until the job ends or the client goes away.
  const lines = { description: 'One log entry (source, timestamp, data) per line.', content: { 'application/x-ndjson': { schema: LogEntry } } };
  server.get('/__api__/v1/content/:guid/jobs/:key/tail', { schema: { summary: "Follow a job's log", params: JobParams, response: answers({ 200: lines }) } }, async (request, reply) => {
    const { job } = await contentJobs.find(requireUser(request), request.params.guid, request.params.key);
    const abort = new AbortController();
    request.raw.once('close', () => abort.abort());
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    for await (const line of app.jobs.logs(job, { follow: job.status === 0, signal: abort.signal })) reply.raw.write(JSON.stringify(logEntry(line)) + '\n');
    reply.raw.end();
    return reply;
  });

  const error = { summary: 'Why a job failed (204: it did not)', params: JobParams, response: answers({ 200: JobError, 204: NoContent }) };
  server.get('/__api__/v1/content/:guid/jobs/:key/error', { schema: error }, async (request, reply) => {
    const { job } = await contentJobs.find(requireUser(request), request.params.guid, request.params.key);
    if (!job.error) return noContent(reply);
    return { code: job.exit_code ?? 1, summary: job.error, help_url: null };
  });

  server.delete('/__api__/v1/content/:guid/jobs/:key', { schema: { summary: 'Stop a job', params: JobParams, response: answers({ 200: JobKilled }) } }, async (request) => {
    const user = requireUser(request);
    const { content, job } = await contentJobs.find(user, request.params.guid, request.params.key);
    await contentJobs.stop(user, content, job);
    return {
      guid: content.guid,
      app_id: content.id,
      app_guid: content.guid,
      content_id: content.id,
      content_guid: content.guid,
      job_id: job.id,
      job_key: job.key,
      result: 'Order to kill job registered',
    };
  });

  server.get('/__api__/v1/system/processes', { schema: { summary: 'Content processes of this replica (Lectern)', response: answers({ 200: Type.Array(Process) }) } }, async (request) => {
    requireRole(request, 'administrator');
    return contentJobs.processes();
  });

  const render = { summary: 'Render content again (answers 202 with the task)', params: ContentGuidParams, body: RenderBody, response: answers({ 202: TaskStarted }) };
  server.post('/__api__/v1/content/:guid/render', { schema: render }, async (request, reply) => {
    const user = requireUser(request);
    const content = await app.content.getChangeable(request.params.guid, user);
    const task = await deploys.render(user, content, request.body.variant_key);
    return reply.code(202).send({ task_id: task.id });
  });

  const renders = { summary: 'Render history, newest first', params: ContentGuidParams, response: answers({ 200: Type.Array(Render) }) };
  server.get('/__api__/v1/content/:guid/renders', { schema: renders }, async (request) => {
    const content = await app.content.getEditable(request.params.guid, requireUser(request));
    return contentJobs.renders(content);
  });
};
