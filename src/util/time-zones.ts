// The IANA time zones this server knows (those of Node's ICU data), each with its UTC offset now.

/**
 * Intl lists one name per zone, and for some the older name CLDR keeps (Asia/Calcutta), where the
 * tz database, and so Connect and R, now name it otherwise (Asia/Kolkata). Both are listed, as in
 * the tz database, where the old names remain as links; so are UTC and Etc/UTC, which servers and
 * R's Sys.timezone() commonly name.
 */
const CURRENT_NAMES: Record<string, string> = {
  'Africa/Asmera': 'Africa/Asmara',
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
  'America/Catamarca': 'America/Argentina/Catamarca',
  'America/Cordoba': 'America/Argentina/Cordoba',
  'America/Jujuy': 'America/Argentina/Jujuy',
  'America/Mendoza': 'America/Argentina/Mendoza',
  'America/Coral_Harbour': 'America/Atikokan',
  'America/Godthab': 'America/Nuuk',
  'America/Indianapolis': 'America/Indiana/Indianapolis',
  'America/Louisville': 'America/Kentucky/Louisville',
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Atlantic/Faeroe': 'Atlantic/Faroe',
  'Europe/Kiev': 'Europe/Kyiv',
  'Pacific/Enderbury': 'Pacific/Kanton',
  'Pacific/Ponape': 'Pacific/Pohnpei',
  'Pacific/Truk': 'Pacific/Chuuk',
};
const ALSO_KNOWN = ['UTC', 'Etc/UTC'];

function known(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

let names: string[] | undefined;

function zoneNames(): string[] {
  if (!names) {
    const listed = Intl.supportedValuesOf('timeZone');
    const extra = [...listed.flatMap((zone) => CURRENT_NAMES[zone] ?? []), ...ALSO_KNOWN].filter(known);
    names = [...new Set([...listed, ...extra])].sort();
  }
  return names;
}

/** "+05:30", "-04:00", "+00:00": the zone's offset from UTC at `at` (daylight saving included). */
export function utcOffset(zone: string, at: Date): string {
  const part = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  // "GMT" alone is UTC itself; otherwise "GMT+05:30" (seconds, "GMT-00:25:21", appear only for dates long past).
  const match = /^GMT([+-]\d{2}:\d{2})/.exec(part);
  return match ? match[1]! : '+00:00';
}

/** Every known zone, sorted by name, with its offset at `at`. */
export function timeZones(at: Date = new Date()): Array<{ timezone: string; offset: string }> {
  return zoneNames().map((timezone) => ({ timezone, offset: utcOffset(timezone, at) }));
}
