// Bundles: the archives a client uploads, and the requests that deploy or build them.
import { Type, type Static } from 'typebox';
import { ABSENT_BODY_IS_EMPTY, Nullable } from './common.js';

const nullableString = Nullable(Type.String());

export const BundleParams = Type.Object({ guid: Type.String({ description: 'Content GUID.' }), id: Type.String({ description: 'Bundle id.' }) });

/** Connect's Bundle. */
export const Bundle = Type.Object(
  {
    id: Type.String(),
    content_guid: Type.String(),
    created_by: nullableString,
    created_time: nullableString,
    cluster_name: Type.Null(),
    image_name: Type.Null(),
    environment_guid: Type.Null(),
    r_version: nullableString,
    r_environment_management: Type.Null(),
    py_version: nullableString,
    py_environment_management: Type.Null(),
    quarto_version: nullableString,
    active: Type.Boolean(),
    size: Type.Number({ description: 'Bytes.' }),
    metadata: Type.Object(
      { source: Type.Unknown(), source_repo: Type.Unknown(), source_branch: Type.Unknown(), source_commit: Type.Unknown() },
      { additionalProperties: true, description: "What the client sent as the upload's metadata (source control details), with the four source fields always present." },
    ),
  },
  { additionalProperties: false },
);
export type Bundle = Static<typeof Bundle>;

/** POST …/deploy and …/build: which bundle (default: the newest; for a build, the active one), and whether to activate it. */
export const DeployBody = Type.Object(
  {
    bundle_id: Type.Optional(
      Type.Union([Type.String(), Type.Number(), Type.Null()], { 'x-error-message': 'bundle_id must be a string or a number.', description: 'Bundle id; null or absent for the default.' }),
    ),
    activate: Type.Optional(Type.Boolean({ 'x-error-message': 'activate must be true or false.', description: 'Serve the bundle once it is deployed (default true).' })),
  },
  { [ABSENT_BODY_IS_EMPTY]: true, additionalProperties: false },
);
export type DeployBody = Static<typeof DeployBody>;
