// Jobs (the processes content runs as: builds, renders, workers), their logs, and renders.
import { Type, type Static } from 'typebox';
import { ABSENT_BODY_IS_EMPTY, Nullable } from './common.js';

const nullableString = Nullable(Type.String());
const nullableNumber = Nullable(Type.Number());

export const JobParams = Type.Object({ guid: Type.String({ description: 'Content GUID.' }), key: Type.String({ description: 'Job key.' }) });

/** Connect's Job object (reference §5.7); ids are strings. */
export const Job = Type.Object(
  {
    id: Type.String(),
    ppid: Type.Null(),
    pid: nullableString,
    key: Type.String(),
    remote_id: nullableString,
    app_id: Type.String(),
    content_id: Type.String(),
    content_guid: Type.String(),
    variant_id: Type.String(),
    variant_key: Type.Null(),
    bundle_id: nullableString,
    start_time: nullableString,
    end_time: nullableString,
    last_heartbeat_time: nullableString,
    queued_time: nullableString,
    queue_name: Type.Null(),
    tag: Type.String(),
    exit_code: Nullable(Type.Integer()),
    error: nullableString,
    status: Type.Integer({ description: '0 active, 1 finished.' }),
    hostname: Type.String(),
    cluster: nullableString,
    image: nullableString,
    run_as: nullableString,
    skip_reason: Type.Null(),
  },
  { additionalProperties: false },
);
export type Job = Static<typeof Job>;

export const LogEntry = Type.Object({ source: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]), timestamp: nullableString, data: Type.String() }, { additionalProperties: false });
export type LogEntry = Static<typeof LogEntry>;

export const JobLogQuery = Type.Object({
  maxLogLines: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'The last this many lines (default 5000).' })),
});

export const JobLogDownloadQuery = Type.Object({
  filename: Type.Optional(Type.String({ maxLength: 255, description: 'The name the download is saved as (default <key>.log).' })),
});

export const JobLog = Type.Object({ entries: Type.Array(LogEntry) }, { additionalProperties: false });

export const JobError = Type.Object({ code: Type.Integer(), summary: Type.String(), help_url: Type.Null() }, { additionalProperties: false });

export const JobKilled = Type.Object(
  {
    guid: Type.String(),
    app_id: Type.Integer(),
    app_guid: Type.String(),
    content_id: Type.Integer(),
    content_guid: Type.String(),
    job_id: Type.Integer(),
    job_key: Type.String(),
    result: Type.String(),
  },
  { additionalProperties: false },
);

export const Pod = Type.Object(
  {
    name: Type.String(),
    node: nullableString,
    phase: Type.String(),
    image: nullableString,
    cpu_request: nullableNumber,
    cpu_limit: nullableNumber,
    memory_request: nullableNumber,
    memory_limit: nullableNumber,
    scheduled_seconds: nullableNumber,
    initialized_seconds: nullableNumber,
    ready_seconds: nullableNumber,
  },
  { additionalProperties: false },
);

/** Lectern extension: a content process this replica runs, with its CPU and memory; off-host, its pod. */
export const Process = Type.Object(
  {
    content_guid: Type.String(),
    content_name: nullableString,
    content_title: nullableString,
    job_key: Type.String(),
    kind: Type.String(),
    tag: Type.String(),
    pid: nullableNumber,
    hostname: Type.String(),
    address: nullableString,
    replica: nullableString,
    start_time: nullableString,
    cpu_seconds: nullableNumber,
    memory_bytes: nullableNumber,
    cpu_cores: Type.Optional(nullableNumber),
    pod: Type.Optional(Pod),
  },
  { additionalProperties: false },
);
export type Process = Static<typeof Process>;
export type Pod = Static<typeof Pod>;

export const RenderBody = Type.Object({ variant_key: Type.Optional(Type.Unknown({ description: 'Passed to the render as is.' })) }, { [ABSENT_BODY_IS_EMPTY]: true, additionalProperties: true });

/** A render of rendered content, newest first. */
export const Render = Type.Object(
  {
    id: Type.String(),
    bundle_id: Type.String(),
    task_id: nullableString,
    job_key: nullableString,
    state: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
    error: nullableString,
    active: Type.Boolean(),
    created_time: nullableString,
    finished_time: nullableString,
  },
  { additionalProperties: false },
);
export type Render = Static<typeof Render>;
