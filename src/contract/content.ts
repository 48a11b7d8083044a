// Content items (v1): what a client creates, changes and reads.
import { Type, type Static } from 'typebox';
import { Nullable } from './common.js';

const nullableString = Nullable(Type.String());
const nullableNumber = Nullable(Type.Number());
const nullableBool = Nullable(Type.Boolean());

export const INCLUDE_DESCRIPTION = 'Comma-separated extras: tags, owner, vanity_url, bookmarked, schedule, schedules, state.';

export const ContentListQuery = Type.Object({
  name: Type.Optional(Type.String({ description: 'Only the item with this name.' })),
  owner_guid: Type.Optional(Type.String({ description: "Only this user's items." })),
  include: Type.Optional(Type.String({ description: INCLUDE_DESCRIPTION })),
});
export type ContentListQuery = Static<typeof ContentListQuery>;

export const ContentItemQuery = Type.Object({ include: Type.Optional(Type.String({ description: INCLUDE_DESCRIPTION })) });

const settable = (description: string) => Type.Optional(Type.Unknown({ description }));

/**
 * The fields a client may set on create and update. Each is checked by src/content/fields.ts,
 * whose refusals (400, code 25 or 12, naming the field) clients already know, so the schema
 * documents them without checking twice. Read-only fields that clients echo back (posit-sdk and
 * connectapi send whole objects) are accepted and ignored; any other field is refused.
 */
export const ContentFields = Type.Object(
  {
    name: settable('3–64 letters, digits, ".", "_" or "-"; unique per owner.'),
    title: settable('string or null'),
    description: settable('string'),
    access_type: settable('"all", "logged_in" or "acl"'),
    locked: settable('boolean: a locked item serves nothing'),
    locked_message: settable('string'),
    content_category: settable('string'),
    connection_timeout: settable('seconds, a non-negative integer or null for the server default'),
    read_timeout: settable('seconds, a non-negative integer or null'),
    init_timeout: settable('seconds, a non-negative integer or null'),
    idle_timeout: settable('seconds, a non-negative integer or null'),
    max_processes: settable('non-negative integer or null'),
    min_processes: settable('non-negative integer or null'),
    max_conns_per_process: settable('non-negative integer or null'),
    load_factor: settable('a fraction between 0 and 1, or null'),
    memory_request: settable('bytes, or null'),
    memory_limit: settable('bytes, or null'),
    cpu_request: settable('cores, or null'),
    cpu_limit: settable('cores, or null'),
    amd_gpu_limit: settable('non-negative integer or null'),
    nvidia_gpu_limit: settable('non-negative integer or null'),
    service_account_name: settable('Kubernetes service account, or null'),
    default_image_name: settable('execution environment (image) name, or null'),
    default_r_environment_management: settable('boolean or null'),
    default_py_environment_management: settable('boolean or null'),
    run_as: settable('Unix account content runs as, or null'),
    run_as_current_user: settable('boolean'),
  },
  { additionalProperties: true },
);
export type ContentFields = Static<typeof ContentFields>;

export const Tag = Type.Object({ id: Type.String(), name: Type.String(), parent_id: nullableString, created_time: nullableString, updated_time: nullableString }, { additionalProperties: false });

export const ContentOwner = Type.Object({ guid: Type.String(), username: Type.String(), first_name: Type.String(), last_name: Type.String() }, { additionalProperties: false });

export const ContentState = Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('published'), Type.Literal('failed'), Type.Literal('deploying'), Type.Literal('not_deployed')]);

/** Connect's content item; fields only owners and editors see are null for others. */
export const Content = Type.Object(
  {
    guid: Type.String(),
    name: Type.String(),
    title: nullableString,
    description: Type.String(),
    access_type: Type.Union([Type.Literal('all'), Type.Literal('logged_in'), Type.Literal('acl')]),
    locked: Type.Boolean(),
    locked_message: Type.String(),
    connection_timeout: nullableNumber,
    read_timeout: nullableNumber,
    init_timeout: nullableNumber,
    idle_timeout: nullableNumber,
    max_processes: nullableNumber,
    min_processes: nullableNumber,
    max_conns_per_process: nullableNumber,
    load_factor: nullableNumber,
    memory_request: nullableNumber,
    memory_limit: nullableNumber,
    cpu_request: nullableNumber,
    cpu_limit: nullableNumber,
    amd_gpu_limit: nullableNumber,
    nvidia_gpu_limit: nullableNumber,
    service_account_name: nullableString,
    default_image_name: nullableString,
    default_environment_guid: Type.Null(),
    default_r_environment_management: nullableBool,
    default_py_environment_management: nullableBool,
    created_time: nullableString,
    last_deployed_time: nullableString,
    bundle_id: nullableString,
    app_mode: Type.String(),
    content_category: Type.String(),
    parameterized: Type.Boolean(),
    cluster_name: nullableString,
    image_name: nullableString,
    environment_guid: nullableString,
    r_version: nullableString,
    py_version: nullableString,
    quarto_version: nullableString,
    r_environment_management: nullableBool,
    py_environment_management: nullableBool,
    run_as: nullableString,
    run_as_current_user: Type.Boolean(),
    owner_guid: nullableString,
    content_url: Type.String(),
    dashboard_url: Type.String(),
    app_role: Type.Union([Type.Literal('owner'), Type.Literal('editor'), Type.Literal('viewer'), Type.Literal('none')]),
    id: Type.String(),
    // With ?include=…; tags and vanity_url only when the item has them, as in Connect.
    owner: Type.Optional(Nullable(ContentOwner)),
    tags: Type.Optional(Type.Array(Tag, { minItems: 1 })),
    vanity_url: Type.Optional(Type.String()),
    bookmarked: Type.Optional(Type.Boolean()),
    state: Type.Optional(ContentState),
  },
  { additionalProperties: false },
);
export type Content = Static<typeof Content>;
