// Packages restored into content environments (v1/packages, v1/content/{guid}/packages) and the
// lockfile of a content item's Python environment.
import { Type, type Static } from 'typebox';

const language = Type.Union([Type.Literal('python'), Type.Literal('r')], { description: 'python or r.' });

const packageFilters = {
  language: Type.Optional(language),
  name: Type.Optional(Type.String({ description: 'Package name (Python names in any spelling pip accepts: Flask, flask).' })),
  version: Type.Optional(Type.String()),
  hash: Type.Optional(Type.String({ description: 'Package description hash (R).' })),
};

export const ContentPackagesQuery = Type.Object(packageFilters);

export const PackagesQuery = Type.Object({
  ...packageFilters,
  bundle_id: Type.Optional(Type.Integer({ minimum: 1 })),
  content_id: Type.Optional(Type.Integer({ minimum: 1 })),
  content_guid: Type.Optional(Type.String()),
  app_id: Type.Optional(Type.Integer({ minimum: 1, description: 'Same as content_id.' })),
  app_guid: Type.Optional(Type.String({ description: 'Same as content_guid.' })),
  page_number: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Page to answer, from 1 (default 1).' })),
  // posit-sdk asks for 1,000,000 a page: larger sizes are clamped, not refused.
  page_size: Type.Optional(Type.Integer({ minimum: 1, description: 'Rows per page (default 500; larger values are taken as 500).' })),
});

/** One package installed in a content item's restored environment (Connect's ContentPackage). */
export const Package = Type.Object(
  {
    language,
    language_version: Type.String(),
    name: Type.String(),
    version: Type.String(),
    hash: Type.Optional(Type.String()),
    bundle_id: Type.String(),
    content_id: Type.String(),
    content_guid: Type.String(),
    app_id: Type.String({ description: 'Same as content_id (older name).' }),
    app_guid: Type.String({ description: 'Same as content_guid (older name).' }),
  },
  { additionalProperties: false },
);
export type Package = Static<typeof Package>;
