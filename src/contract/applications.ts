// The legacy (v0) `/__api__/applications` surface (src/api/applications.ts): integer ids, an
// ordinal app_mode, tasks with `status`/`last_status`.
import { Type, type Static } from 'typebox';
import { Bundle } from './bundles.js';
import { ABSENT_BODY_IS_EMPTY, Nullable } from './common.js';
import { Content } from './content.js';

const nullableString = Nullable(Type.String());

export const ApplicationParams = Type.Object({ id: Type.String({ description: 'Content id (an integer) or GUID.' }) });

/** Clients repeat parameters, so each may arrive as a list; the last one counts. */
const repeatable = (description: string) => Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description }));

export const ApplicationListQuery = Type.Object(
  {
    filter: repeatable('key:value filters (name, name:like:…, account_id, content_type), repeated or joined with "&".'),
    search: repeatable('Text in the name or title.'),
    count: repeatable('Page size (default 100, at most 1000).'),
    start: repeatable('Offset of the page.'),
    offset: repeatable('Offset of the page (as start).'),
    cont: repeatable('The continuation a previous page answered.'),
  },
  { additionalProperties: true, description: 'Unencoded filters arrive as bare key:value parameters; they count too.' },
);
export type ApplicationListQuery = Static<typeof ApplicationListQuery>;

const { content_url: _url, dashboard_url: _dashboard, id: _id, app_mode: _mode, vanity_url: _vanity, bundle_id: _bundle, ...v1 } = Content.properties;

/** A v0 application record: the v1 item with integer ids, an ordinal app_mode and owner_* fields. */
export const Application = Type.Object(
  {
    ...v1,
    id: Type.Integer(),
    url: Type.String(),
    app_mode: Type.Integer({ description: "Connect's ordinal for the app mode." }),
    vanity_url: Type.Boolean(),
    has_parameters: Type.Boolean(),
    build_status: Type.Integer({ description: '0: nothing deployed yet; 2: an active bundle was deployed.' }),
    bundle_id: Nullable(Type.Integer()),
    owner_id: Type.Integer(),
    owner_username: nullableString,
    owner_first_name: nullableString,
    owner_last_name: nullableString,
    owner_email: nullableString,
    owner_locked: Type.Boolean(),
    is_scheduled: Type.Boolean(),
    git: Type.Null(),
    users: Type.Array(Type.Unknown()),
    groups: Type.Array(Type.Unknown()),
    vanities: Type.Array(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type Application = Static<typeof Application>;

export const ApplicationList = Type.Object({ applications: Type.Array(Application), count: Type.Integer(), total: Type.Integer(), continuation: nullableString }, { additionalProperties: false });

/** What the legacy upload answers: the v1 bundle with integer ids. */
export const ApplicationBundle = Type.Object(
  { ...Bundle.properties, id: Type.Integer(), app_id: Type.Integer(), app_guid: Type.String(), owner_id: Nullable(Type.Integer()) },
  { additionalProperties: false },
);

/** `{bundle: <int>}` (legacy) or `{bundle_id}`; anything else old clients send is ignored. */
export const ApplicationDeployBody = Type.Object(
  {
    bundle: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Null()], { 'x-error-message': 'bundle_id must be a string or a number.' })),
    bundle_id: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Null()], { 'x-error-message': 'bundle_id must be a string or a number.' })),
    activate: Type.Optional(Type.Boolean({ 'x-error-message': 'activate must be true or false.' })),
  },
  { [ABSENT_BODY_IS_EMPTY]: true, additionalProperties: true },
);

export const ApplicationConfig = Type.Object({ config_url: Type.String(), logs_url: Type.String() }, { additionalProperties: false });
