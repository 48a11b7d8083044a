// The templates OAuth integrations are made from (Connect's v1/oauth/templates): for each kind of
// external service, the options and fields an integration's `config` holds, which of them are
// secret (sealed at rest, never answered) and which are required. The keys are Connect's
// (posit-sdk's OAuthIntegrationType), so scripts written against Connect create the same ones.
import type { Template } from '../contract/oauth-integrations.js';
import { invalidParameter, LecternError, ErrorCode } from '../errors.js';

export type AuthType = 'Viewer' | 'Service Account' | 'Visitor API Key';

interface FieldSpec {
  name: string;
  label: string;
  description: string;
  default?: string;
  secret?: boolean;
  multiline?: boolean;
  /** Required for these auth types (default: every one the template has). */
  requiredFor?: readonly AuthType[];
  /** Required only with this auth_mode (the custom template's client secret, for confidential clients). */
  requiredInMode?: string;
  optional?: boolean;
}

interface OptionSpec {
  name: string;
  label: string;
  description: string;
  type: 'select' | 'bool';
  values?: readonly string[];
  default: string | boolean;
}

interface TemplateSpec {
  id: string;
  name: string;
  description: string;
  /** The flows the template supports; with more than one, the `auth_type` option chooses. */
  authTypes: readonly AuthType[];
  options?: readonly OptionSpec[];
  fields: readonly FieldSpec[];
}

const clientId: FieldSpec = { name: 'client_id', label: 'Client ID', description: 'The OAuth client (application) ID registered with the provider.' };
const clientSecret: FieldSpec = { name: 'client_secret', label: 'Client Secret', description: 'The secret of the OAuth client.', secret: true };
const tenantId: FieldSpec = { name: 'tenant_id', label: 'Tenant ID', description: 'The Microsoft Entra ID tenant (directory) ID.' };
const scopes = (defaultScopes: string): FieldSpec => ({ name: 'scopes', label: 'Scopes', description: 'Space-separated scopes to request.', default: defaultScopes, optional: true });
const authTypeOption = (types: readonly AuthType[]): OptionSpec => ({
  name: 'auth_type',
  label: 'Authentication Type',
  description: 'Viewer: each visitor signs in with the provider (authorization code flow). Service Account: the content acts as the client itself (client credentials flow).',
  type: 'select',
  values: types,
  default: types[0]!,
});
const viewerAndService: readonly AuthType[] = ['Viewer', 'Service Account'];

/** A Google API reached with each visitor's Google account. */
const google = (id: string, name: string, scope: string): TemplateSpec => ({
  id,
  name,
  description: `Access ${name.replace(/^Google /, '')} with the credentials of the visitor's Google account.`,
  authTypes: ['Viewer'],
  fields: [clientId, clientSecret, scopes(`openid email ${scope}`)],
});

const TEMPLATES: readonly TemplateSpec[] = [
  {
    id: 'custom',
    name: 'Custom',
    description: 'An OAuth 2.0 integration with any provider, configured by hand.',
    authTypes: viewerAndService,
    options: [
      authTypeOption(viewerAndService),
      {
        name: 'auth_mode',
        label: 'Client Type',
        description: 'Confidential clients authenticate with a client secret; public clients do not.',
        type: 'select',
        values: ['Confidential', 'Public'],
        default: 'Confidential',
      },
      {
        name: 'token_endpoint_auth_method',
        label: 'Token Endpoint Authentication Method',
        description: 'How the client secret is sent to the token endpoint.',
        type: 'select',
        values: ['client_secret_basic', 'client_secret_post'],
        default: 'client_secret_basic',
      },
      { name: 'use_pkce', label: 'Use PKCE', description: 'Protect the authorization code flow with PKCE (RFC 7636).', type: 'bool', default: true },
    ],
    fields: [
      clientId,
      { ...clientSecret, requiredInMode: 'Confidential' },
      { name: 'authorization_uri', label: 'Authorization URL', description: "The provider's authorization endpoint.", requiredFor: ['Viewer'] },
      { name: 'token_uri', label: 'Token URL', description: "The provider's token endpoint." },
      scopes(''),
      { name: 'audience', label: 'Audience', description: 'The audience (resource) to request tokens for, where the provider needs one.', optional: true },
    ],
  },
  {
    id: 'connect',
    name: 'Connect API',
    description: "Lets content call this server's API as its visitor, with a short-lived visitor API key.",
    authTypes: ['Visitor API Key'],
    options: [
      {
        name: 'scopes',
        label: 'Maximum Role',
        description: "The highest role the visitor's key acts with: the key gets the lower of this and the visitor's own role.",
        type: 'select',
        values: ['viewer', 'publisher', 'admin'],
        default: 'viewer',
      },
    ],
    fields: [],
  },
  {
    id: 'aws',
    name: 'AWS',
    description: 'Temporary AWS credentials from an IAM role, assumed with a web identity token.',
    authTypes: viewerAndService,
    options: [authTypeOption(viewerAndService)],
    fields: [
      { name: 'role_arn', label: 'Role ARN', description: 'The IAM role to assume.' },
      { name: 'session_duration', label: 'Session Duration', description: 'Lifetime of the credentials, in seconds.', default: '3600', optional: true },
      { ...clientId, requiredFor: ['Viewer'] },
      { ...clientSecret, requiredFor: ['Viewer'] },
      { name: 'issuer', label: 'Issuer URL', description: "The identity provider's issuer URL (viewer flow).", requiredFor: ['Viewer'] },
    ],
  },
  {
    id: 'azure',
    name: 'Azure',
    description: 'Microsoft Entra ID (Azure) access tokens.',
    authTypes: viewerAndService,
    options: [authTypeOption(viewerAndService)],
    fields: [tenantId, clientId, clientSecret, scopes('offline_access openid profile email')],
  },
  {
    id: 'azure-openai',
    name: 'Azure OpenAI',
    description: 'Access tokens for Azure OpenAI Service, issued by Microsoft Entra ID.',
    authTypes: viewerAndService,
    options: [authTypeOption(viewerAndService)],
    fields: [tenantId, clientId, clientSecret, scopes('https://cognitiveservices.azure.com/.default offline_access')],
  },
  {
    id: 'databricks',
    name: 'Databricks',
    description: 'Databricks access tokens for a workspace.',
    authTypes: viewerAndService,
    options: [authTypeOption(viewerAndService)],
    fields: [
      { name: 'workspace_host', label: 'Workspace URL', description: 'The Databricks workspace, e.g. https://example.cloud.databricks.com.' },
      clientId,
      clientSecret,
      scopes('all-apis offline_access'),
    ],
  },
  {
    id: 'github',
    name: 'GitHub',
    description: "Access GitHub with the visitor's GitHub account.",
    authTypes: ['Viewer'],
    fields: [clientId, clientSecret, scopes('repo read:user')],
  },
  google('bigquery', 'Google BigQuery', 'https://www.googleapis.com/auth/bigquery'),
  google('drive', 'Google Drive', 'https://www.googleapis.com/auth/drive'),
  google('sheets', 'Google Sheets', 'https://www.googleapis.com/auth/spreadsheets'),
  google('vertex-ai', 'Google Vertex AI', 'https://www.googleapis.com/auth/cloud-platform'),
  {
    id: 'msgraph',
    name: 'Microsoft Graph',
    description: "Access Microsoft Graph with the visitor's Microsoft Entra ID account.",
    authTypes: ['Viewer'],
    fields: [tenantId, clientId, clientSecret, scopes('offline_access openid profile email User.Read')],
  },
  {
    id: 'salesforce',
    name: 'Salesforce',
    description: "Access Salesforce with the visitor's Salesforce account.",
    authTypes: viewerAndService,
    options: [authTypeOption(viewerAndService)],
    fields: [{ name: 'instance_url', label: 'Instance URL', description: 'Your Salesforce domain, e.g. https://example.my.salesforce.com.' }, clientId, clientSecret, scopes('api refresh_token')],
  },
  {
    id: 'sharepoint',
    name: 'SharePoint',
    description: "Access SharePoint with the visitor's Microsoft Entra ID account.",
    authTypes: ['Viewer'],
    fields: [tenantId, clientId, clientSecret, scopes('offline_access openid profile email Sites.Read.All')],
  },
  {
    id: 'snowflake',
    name: 'Snowflake',
    description: 'Snowflake OAuth access tokens for an account.',
    authTypes: viewerAndService,
    options: [authTypeOption(viewerAndService)],
    fields: [{ name: 'account_url', label: 'Account URL', description: 'e.g. https://example.snowflakecomputing.com.' }, clientId, clientSecret, scopes('refresh_token')],
  },
];

const BY_ID = new Map(TEMPLATES.map((t) => [t.id, t]));

/** The templates as Connect answers them, in the order the dashboard lists them. */
export function listTemplates(): Template[] {
  return TEMPLATES.map(templateJson);
}

export function getTemplate(key: string): Template {
  const spec = BY_ID.get(key);
  if (!spec) throw new LecternError('not_found', ErrorCode.ObjectDoesNotExist, `The OAuth template "${key}" does not exist.`);
  return templateJson(spec);
}

function templateJson(spec: TemplateSpec): Template {
  const options = spec.options ?? [];
  return {
    id: spec.id,
    name: spec.name,
    description: spec.description,
    options: options.map((o, i) => ({ name: o.name, label: o.label, description: o.description, order: i, type: o.type, ...(o.values ? { values: [...o.values] } : {}), default: o.default })),
    fields: spec.fields.map((f, i) => ({
      name: f.name,
      label: f.label,
      description: f.description,
      order: options.length + i,
      ...(f.default !== undefined ? { default: f.default } : {}),
      required: !f.optional,
      secret: f.secret ?? false,
      multiline: f.multiline ?? false,
    })),
  };
}

/** An integration's configuration checked against its template, split into what may be shown and what is sealed. */
export interface CheckedConfig {
  authType: AuthType;
  visible: Record<string, unknown>;
  secret: Record<string, string>;
}

/**
 * Checks a whole configuration (options and fields, secrets included) against its template:
 * every key is one of the template's, options take their values, fields are text, and the fields
 * the chosen flow needs are there. Refusals name the key.
 */
export function checkConfig(templateId: string, config: Record<string, unknown>): CheckedConfig {
  const spec = BY_ID.get(templateId);
  if (!spec) throw invalidParameter(`The OAuth template "${templateId}" does not exist: use one of ${TEMPLATES.map((t) => t.id).join(', ')}.`).withPayload({ field: 'template' });
  const options = new Map((spec.options ?? []).map((o) => [o.name, o]));
  const fields = new Map(spec.fields.map((f) => [f.name, f]));
  const visible: Record<string, unknown> = {};
  const secret: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    const refuse = (why: string) => invalidParameter(`config.${key}: ${why}`).withPayload({ field: `config.${key}` });
    const option = options.get(key);
    const field = fields.get(key);
    if (option) {
      if (option.type === 'bool' && typeof value !== 'boolean') throw refuse('must be true or false.');
      if (option.type === 'select' && (typeof value !== 'string' || !option.values!.includes(value))) throw refuse(`must be one of ${option.values!.map((v) => JSON.stringify(v)).join(', ')}.`);
      visible[key] = value;
    } else if (field) {
      if (typeof value !== 'string') throw refuse('must be a string.');
      if (field.secret) secret[key] = value;
      else visible[key] = value;
    } else {
      const known = [...options.keys(), ...fields.keys()];
      throw refuse(`the "${templateId}" template has no such setting${known.length ? ` (it has ${known.join(', ')})` : ''}.`);
    }
  }
  const authType = (spec.authTypes.length > 1 ? (visible.auth_type as AuthType | undefined) : undefined) ?? spec.authTypes[0]!;
  const mode = (visible.auth_mode as string | undefined) ?? (options.get('auth_mode')?.default as string | undefined);
  for (const field of spec.fields) {
    if (field.optional) continue;
    if (field.requiredFor && !field.requiredFor.includes(authType)) continue;
    if (field.requiredInMode && field.requiredInMode !== mode) continue;
    const value = field.secret ? secret[field.name] : visible[field.name];
    if (typeof value !== 'string' || value.trim() === '') {
      throw new LecternError('invalid', ErrorCode.ParameterMissing, `config.${field.name} is required for a ${authType} integration from the "${templateId}" template.`, {
        field: `config.${field.name}`,
      });
    }
  }
  return { authType, visible, secret };
}
