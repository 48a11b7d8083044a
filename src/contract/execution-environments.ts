// Execution environments: the container images content runs in off-host (Connect's v1
// Environment and its permissions), and Lectern's report of which image a bundle would get.
import { Type, type Static } from 'typebox';
import { Nullable } from './common.js';

const Time = Type.String({ description: 'RFC 3339, seconds precision, UTC.' });

const Installation = Type.Object({ version: Type.String(), path: Type.String({ description: 'Absolute path inside the image.' }) }, { additionalProperties: false });
const Installations = Type.Object({ installations: Type.Array(Installation) }, { additionalProperties: false });

const VolumeMount = Type.Object(
  {
    source: Type.Union([
      Type.Object({ volume_type: Type.Literal('nfs'), nfs_host: Type.String(), nfs_export_path: Type.String() }, { additionalProperties: false }),
      Type.Object({ volume_type: Type.Literal('pvc'), pvc_name: Type.String() }, { additionalProperties: false }),
    ]),
    target: Type.Object({ path: Type.String(), read_only: Type.Boolean() }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

export const Environment = Type.Object(
  {
    id: Type.String(),
    guid: Type.String(),
    created_time: Time,
    updated_time: Time,
    title: Type.String(),
    description: Type.String(),
    cluster_name: Type.String({ description: 'Always "Kubernetes".' }),
    name: Type.String({ description: 'The container image.' }),
    environment_type: Type.String(),
    matching: Type.Union([Type.Literal('any'), Type.Literal('exact'), Type.Literal('none')]),
    supervisor: Nullable(Type.String()),
    managed_by: Nullable(Type.String({ description: 'The declarative file that owns the record ([ExecutionEnvironments] ConfigFilePath); such records are read-only here.' })),
    python: Installations,
    r: Installations,
    quarto: Installations,
    tensorflow: Installations,
    volume_mounts: Type.Array(VolumeMount),
  },
  { additionalProperties: false },
);
export type Environment = Static<typeof Environment>;

const field = (description: string) => Type.Optional(Type.Unknown({ description }));

/**
 * POST (all of it) or PUT (what changes) of an environment. The one definition parser shared
 * with the declarative file and ClusterDefinition files (src/execution-environments/definition.ts) checks
 * it and names the field it refuses; fields of an Environment that cannot change (id, guid, …)
 * may be sent back and are ignored.
 */
export const EnvironmentDefinition = Type.Object(
  {
    title: field('Required on POST.'),
    description: field('Text.'),
    name: field('The container image, e.g. ghcr.io/acme/content:r4.4-py3.12; required on POST, cannot change.'),
    cluster_name: field('"Kubernetes"; required on POST, cannot change.'),
    matching: field('any (default), exact or none: whether content may be placed in it without naming it.'),
    supervisor: field('Absolute path of a program that starts every process in the image.'),
    python: field('{installations: [{version, path}]}'),
    r: field('{installations: [{version, path}]}'),
    quarto: field('{installations: [{version, path}]}'),
    tensorflow: field('{installations: [{version, path}]}'),
    volume_mounts: field('[{source: {volume_type: nfs|pvc, …}, target: {path, read_only}}]'),
  },
  { additionalProperties: true },
);

export const EnvironmentPermission = Type.Object(
  { id: Type.String(), guid: Type.String(), environment_guid: Type.String(), user_guid: Nullable(Type.String()), group_guid: Nullable(Type.String()) },
  { additionalProperties: false },
);

/** Exactly one of user_guid and group_guid; fields of a permission read back are ignored. */
export const NewEnvironmentPermission = Type.Object(
  {
    user_guid: Type.Optional(Nullable(Type.String())),
    group_guid: Type.Optional(Nullable(Type.String())),
    id: Type.Optional(Type.Unknown()),
    guid: Type.Optional(Type.Unknown()),
    environment_guid: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

export type EnvironmentPermission = Static<typeof EnvironmentPermission>;

export const EnvironmentPermissionParams = Type.Object({ guid: Type.String({ description: 'Environment GUID.' }), permission: Type.String({ description: 'Permission GUID.' }) });

export const ImageSelectionQuery = Type.Object({ bundle_id: Type.Optional(Type.String({ description: 'Default: the live bundle.' })) });

const Rejection = Type.Object({ guid: Type.String(), name: Type.String(), reason: Type.String() }, { additionalProperties: false });
const nothingSelected = {
  bundle_id: Type.String(),
  source: Type.Null(),
  chosen: Type.Null(),
  error: Type.Null(),
  rejected: Type.Array(Rejection, { maxItems: 0 }),
  note: Type.String({ description: 'Why no image is selected for this bundle.' }),
};

/** Which image a deploy of the bundle would run in, and why every other one was passed over (Lectern's own). */
export const ImageSelection = Type.Union([
  Type.Object({ off_host_execution: Type.Literal(false), ...nothingSelected }, { additionalProperties: false }),
  Type.Object({ off_host_execution: Type.Literal(true), ...nothingSelected }, { additionalProperties: false }),
  Type.Object(
    {
      off_host_execution: Type.Literal(true),
      bundle_id: Type.String(),
      requested: Type.Object(
        { image: Nullable(Type.String()), default_image_name: Nullable(Type.String()), python: Nullable(Type.String()), r: Nullable(Type.String()), quarto: Nullable(Type.String()) },
        { additionalProperties: false },
      ),
      source: Type.Union([Type.Literal('deployed'), Type.Literal('manifest'), Type.Literal('default_image_name'), Type.Literal('automatic')]),
      chosen: Nullable(
        Type.Object(
          {
            guid: Type.String(),
            name: Type.String(),
            title: Type.String(),
            reason: Type.String(),
            installations: Type.Record(Type.String(), Installation),
          },
          { additionalProperties: false },
        ),
      ),
      error: Nullable(Type.String({ description: 'Why no image fits: the versions wanted and the images considered.' })),
      rejected: Type.Array(Rejection),
      current_image_name: Nullable(Type.String({ description: 'The image the live bundle runs in now (a deploy re-selects; runs and renders keep it).' })),
    },
    { additionalProperties: false },
  ),
]);
export type ImageSelection = Static<typeof ImageSelection>;
