// Connect's programmatic provisioning of the first administrator (rsconnect bootstrap).
import { Type } from 'typebox';

export const BootstrapAnswer = Type.Object({ api_key: Type.String({ description: 'An API key of the new first administrator.' }) }, { additionalProperties: false });
