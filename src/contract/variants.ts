// Connect's variants (`/__api__/applications/{guid}/variants`, `/__api__/variants/{id}`): the
// legacy surface posit-sdk's `content.render()` goes through. Lectern keeps one variant per rendered
// content item, its default.
import { Type, type Static } from 'typebox';
import { Nullable } from './common.js';

export const VariantParams = Type.Object({ id: Type.String({ description: 'Variant id (an integer).' }) });

export const Variant = Type.Object(
  {
    id: Type.Integer(),
    app_id: Type.Integer(),
    key: Type.String(),
    bundle_id: Nullable(Type.Integer()),
    is_default: Type.Boolean(),
    name: Type.String(),
    email_collaborators: Type.Boolean(),
    email_viewers: Type.Boolean(),
    created_time: Type.String(),
    rendering_id: Nullable(Type.Integer()),
    render_time: Nullable(Type.String()),
    render_duration: Nullable(Type.Integer()),
    visibility: Type.Literal('public'),
    owner_id: Type.Integer(),
  },
  { additionalProperties: false },
);
export type Variant = Static<typeof Variant>;
