import { applicationRoutes } from './api/applications.js';
import { auditRoutes } from './api/audit.js';
import { bootstrapRoutes } from './api/bootstrap.js';
import { instrumentationRoutes } from './api/instrumentation.js';
import { bundleRoutes } from './api/bundles.js';
import { jobRoutes } from './api/jobs.js';
import { packageRoutes } from './api/packages.js';
import { searchRoutes } from './api/search.js';
import { systemRoutes } from './api/system.js';
import { contentRoutes } from './api/content.js';
import { environmentRoutes } from './api/environment-variables.js';
import { executionEnvironmentRoutes } from './api/execution-environments.js';
import { oauthIntegrationRoutes } from './api/oauth-integrations.js';
import { permissionRoutes } from './api/permissions.js';
import { repositoryRoutes } from './api/repository.js';
import { serverSettingsRoutes } from './api/server-settings.js';
import { tagRoutes } from './api/tags.js';
import { userRoutes } from './api/users.js';
import { taskRoutes } from './api/tasks.js';
import { timeZoneRoutes } from './api/timezones.js';
import { vanityRoutes, vanityServingRoutes } from './api/vanities.js';
import { variantRoutes } from './api/variants.js';
import { visitorCredentialRoutes } from './api/visitor-credentials.js';
import { dashboardRoutes } from './serve/dashboard.js';
import { loginRoutes } from './serve/login.js';
import { staticAssetRoutes } from './serve/static-assets.js';
import { contentRoutes as contentServingRoutes } from './serve/content-routes.js';
import type { RoutePlugin } from './http/routing.js';

/** Every route module, registered in this order. */
export const ROUTES: RoutePlugin[] = [
  serverSettingsRoutes,
  contentRoutes,
  bundleRoutes,
  repositoryRoutes,
  taskRoutes,
  jobRoutes,
  applicationRoutes,
  variantRoutes,
  loginRoutes,
  dashboardRoutes,
  staticAssetRoutes,
  contentServingRoutes,
  permissionRoutes,
  environmentRoutes,
  executionEnvironmentRoutes,
  tagRoutes,
  vanityRoutes,
  userRoutes,
  auditRoutes,
  instrumentationRoutes,
  visitorCredentialRoutes,
  oauthIntegrationRoutes,
  timeZoneRoutes,
  bootstrapRoutes,
  searchRoutes,
  packageRoutes,
  systemRoutes,
  // Last: a GET /* wildcard that answers only for vanity paths and otherwise falls through to 404.
  vanityServingRoutes,
];
