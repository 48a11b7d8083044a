// Tasks: deploys, builds and renders run in the background; clients poll them (v1 and legacy v0).
import { Type, type Static } from 'typebox';
import { Nullable } from './common.js';

export const TaskParams = Type.Object({ id: Type.String({ description: 'Task id.' }) });

/** Longer waits are clamped rather than refused (src/api/tasks.ts): clients pick their own values. */
export const TaskQuery = Type.Object({
  first: Type.Optional(Type.Integer({ minimum: 0, description: 'Output lines already read: the answer starts after them.' })),
  wait: Type.Optional(Type.Integer({ minimum: 0, description: 'Seconds to hold the answer until output arrives or the task finishes (at most 60).' })),
});
export type TaskQuery = Static<typeof TaskQuery>;

const taskFields = {
  result: Type.Unknown({ description: 'What the task produced (null until it finishes, or when it produces nothing).' }),
  finished: Type.Boolean(),
  code: Type.Integer({ description: 'Connect error code when the task failed, else 0.' }),
  error: Type.String({ description: 'Why the task failed, else "".' }),
};

/** GET /__api__/v1/tasks/{id}. */
export const Task = Type.Object(
  {
    id: Type.String(),
    output: Type.Array(Type.String(), { description: 'Output lines from `first` on.' }),
    ...taskFields,
    last: Type.Integer({ description: 'The `first` to ask for next.' }),
  },
  { additionalProperties: false },
);
export type Task = Static<typeof Task>;

/** The v0 task (`/__api__/tasks/{id}`, legacy deploys): `status` lines from `first_status`, `last_status` the next offset. */
export const LegacyTask = Type.Object(
  {
    id: Type.String(),
    task_id: Type.String(),
    user_id: Nullable(Type.Integer()),
    status: Type.Array(Type.String()),
    ...taskFields,
    last_status: Type.Integer(),
  },
  { additionalProperties: false },
);
export type LegacyTask = Static<typeof LegacyTask>;

export const LegacyTaskQuery = Type.Object({
  first_status: Type.Optional(Type.Integer({ minimum: 0, description: 'Status lines already read.' })),
});

/** What POST …/deploy, …/build and …/render answer. */
export const TaskStarted = Type.Object({ task_id: Type.String() }, { additionalProperties: false });
export type TaskStarted = Static<typeof TaskStarted>;
