// OAuth integrations (Connect's v1/oauth/integrations), the templates they are made from, and
// their associations with content. Secret configuration values go in and never come out.
import { Type, type Static } from 'typebox';
import { ABSENT_BODY_IS_EMPTY, Nullable } from './common.js';

const Time = Type.String({ description: 'RFC 3339, seconds precision, UTC.' });
const AuthType = Type.String({ description: '"Viewer" (authorization code flow), "Service Account" (client credentials flow) or "Visitor API Key" (the connect template).' });

export const IntegrationGuidParams = Type.Object({ guid: Type.String({ description: 'OAuth integration GUID.' }) });
export const TemplateKeyParams = Type.Object({ key: Type.String({ description: 'Template id, e.g. "custom".' }) });

export const Integration = Type.Object(
  {
    id: Type.String(),
    guid: Type.String(),
    created_time: Time,
    updated_time: Time,
    name: Nullable(Type.String()),
    description: Nullable(Type.String()),
    template: Type.String({ description: 'The template the integration was made from (GET v1/oauth/templates).' }),
    auth_type: AuthType,
    config: Type.Record(Type.String(), Type.Unknown(), { description: "The template's options and fields as set, without its secret fields." }),
  },
  { additionalProperties: false },
);
export type Integration = Static<typeof Integration>;

const Permissions = Type.Optional(
  Nullable(
    Type.Array(Type.Object({ user_guid: Type.Optional(Nullable(Type.String())), group_guid: Type.Optional(Nullable(Type.String())) }), {
      description: 'Who may use the integration. Lectern does not restrict integrations yet: only null or [] (everyone) is taken.',
    }),
  ),
);

const Config = Type.Record(Type.String(), Type.Unknown(), {
  description: "Values of the template's options and fields (GET v1/oauth/templates/{key}); secret fields are sealed at rest and never answered.",
});

export const NewIntegration = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String())),
    description: Type.Optional(Nullable(Type.String())),
    template: Type.String(),
    config: Config,
    permissions: Permissions,
  },
  { additionalProperties: false },
);
export type NewIntegration = Static<typeof NewIntegration>;

export const IntegrationChanges = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String())),
    description: Type.Optional(Nullable(Type.String())),
    config: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'Merged into the configuration: a key given replaces its value, null removes it; secret fields not given keep their value.',
      }),
    ),
    permissions: Permissions,
  },
  { [ABSENT_BODY_IS_EMPTY]: true, additionalProperties: false },
);
export type IntegrationChanges = Static<typeof IntegrationChanges>;

export const Association = Type.Object(
  {
    app_guid: Type.String({ description: "The content GUID (Connect's older name for content_guid)." }),
    content_guid: Type.String(),
    oauth_integration_guid: Type.String(),
    oauth_integration_name: Nullable(Type.String()),
    oauth_integration_description: Nullable(Type.String()),
    oauth_integration_template: Type.String(),
    oauth_integration_auth_type: AuthType,
    created_time: Time,
  },
  { additionalProperties: false },
);
export type Association = Static<typeof Association>;

/** PUT replaces the content's whole set: `[]` removes every association. */
export const AssociationReplacement = Type.Array(Type.Object({ oauth_integration_guid: Type.String() }, { additionalProperties: false }), {
  'x-error-message': 'The request body must be a JSON array of {"oauth_integration_guid": ...} objects.',
});

const TemplateOption = Type.Object(
  {
    name: Type.String({ description: 'The config key.' }),
    label: Type.String(),
    description: Type.String(),
    order: Type.Integer(),
    type: Type.Union([Type.Literal('select'), Type.Literal('bool')]),
    values: Type.Optional(Type.Array(Type.String())),
    default: Type.Union([Type.String(), Type.Boolean()]),
  },
  { additionalProperties: false },
);

const TemplateField = Type.Object(
  {
    name: Type.String({ description: 'The config key.' }),
    label: Type.String(),
    description: Type.String(),
    order: Type.Integer(),
    default: Type.Optional(Type.String()),
    required: Type.Boolean({ description: 'Whether an integration needs a value (given its auth_type and auth_mode).' }),
    secret: Type.Boolean({ description: 'Sealed at rest and never answered.' }),
    multiline: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const Template = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    description: Type.String(),
    options: Type.Array(TemplateOption),
    fields: Type.Array(TemplateField),
  },
  { additionalProperties: false },
);
export type Template = Static<typeof Template>;
