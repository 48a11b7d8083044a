import { applicationRoutes } from './api/applications.js';
import { auditRoutes } from './api/audit.js';
import { bundleRoutes } from './api/bundles.js';
import { jobRoutes } from './api/jobs.js';
import { contentRoutes } from './api/content.js';
import { environmentRoutes } from './api/environment-variables.js';
import { executionEnvironmentRoutes } from './api/execution-environments.js';
import { permissionRoutes } from './api/permissions.js';
import { serverSettingsRoutes } from './api/server-settings.js';
import { tagRoutes } from './api/tags.js';
import { userRoutes } from './api/users.js';
import { taskRoutes } from './api/tasks.js';
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
  visitorCredentialRoutes,
  // Last: a GET /* wildcard that answers only for vanity paths and otherwise falls through to 404.
  vanityServingRoutes,
];
