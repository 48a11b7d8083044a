import { requireUser } from '../auth/principal.js';
import { answers } from '../contract/common.js';
import { TimeZones } from '../contract/timezones.js';
import type { RoutePlugin } from '../http/routing.js';
import { timeZones } from '../util/time-zones.js';

/**
 * The time zones schedules may name, with their offsets now (Connect's v1/timezones). connectapi
 * asks the unversioned path when v1 fails, so both answer. Any signed-in user may read them.
 */
export const timeZoneRoutes: RoutePlugin = (server) => {
  const schema = { summary: 'Time zone names and their offsets from UTC now', response: answers({ 200: TimeZones }) };
  for (const path of ['/__api__/v1/timezones', '/__api__/timezones']) {
    server.get(path, { schema }, async (request) => {
      requireUser(request);
      return timeZones();
    });
  }
};
