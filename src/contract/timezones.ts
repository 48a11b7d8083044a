// Connect's GET v1/timezones (and the unversioned /timezones connectapi falls back to).
import { Type } from 'typebox';

export const TimeZoneEntry = Type.Object(
  {
    timezone: Type.String({ description: 'IANA name, e.g. "America/New_York".' }),
    offset: Type.String({ description: 'Offset from UTC now, e.g. "-04:00".' }),
  },
  { additionalProperties: false },
);

export const TimeZones = Type.Array(TimeZoneEntry);
