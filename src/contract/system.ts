// Runtime caches (v1/system/caches/runtime): the restored environments per interpreter version.
import { Type } from 'typebox';
import { Nullable } from './common.js';

const cacheFields = {
  language: Type.String({ description: 'Python or R.' }),
  version: Type.String({ description: 'The interpreter version the environments were restored with.' }),
  image_name: Type.String({ description: 'The execution environment (image), or Local for the server’s own interpreters.' }),
};

export const RuntimeCache = Type.Object(cacheFields, { additionalProperties: false });

export const RuntimeCaches = Type.Object({ caches: Type.Array(RuntimeCache) }, { additionalProperties: false });

export const DeleteRuntimeCache = Type.Object({ ...cacheFields, dry_run: Type.Optional(Type.Boolean({ description: 'true: only check that the cache exists (no task).' })) });

export const DeletedRuntimeCache = Type.Object(
  { ...cacheFields, task_id: Nullable(Type.String({ description: 'The task deleting the cache; null for a dry run.' })) },
  { additionalProperties: false },
);
