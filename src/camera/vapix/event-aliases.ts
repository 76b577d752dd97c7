/**
 * The short names `camera setup --on` takes for common events, and what each means. A module of
 * its own so that the CLI's option help can list them without loading the VAPIX client; how each
 * is found among a camera's events is in ./events.ts.
 *
 * @module
 */

/** Every alias: how it is written and what it stands for. `:N` marks an alias that takes a number. */
export const EVENT_ALIASES = {
  motion: {
    usage: 'motion',
    meaning: 'AXIS Video Motion Detection (its any-profile event, or its only profile), else VMD 3, else the ONVIF motion alarm',
  },
  input: { usage: 'input:N', meaning: 'digital input port N, numbered as the camera lists it (tns1:Device/tnsaxis:IO/Port port=N)' },
  tampering: { usage: 'tampering', meaning: 'camera tampering: covered, redirected or defocused (tns1:VideoSource/tnsaxis:Tampering)' },
  storage: { usage: 'storage', meaning: 'storage disruption: the SD card or network share fails (tnsaxis:Storage/Disruption)' },
  scenario: { usage: 'scenario:N', meaning: 'AXIS Object Analytics scenario N (tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1ScenarioN)' },
} as const satisfies Record<string, { usage: string; meaning: string }>;

/** The name of an alias (`input` for `input:2`). */
export type EventAliasName = keyof typeof EVENT_ALIASES;

/** `motion, input:N, tampering, storage, scenario:N`, for help texts. */
export const EVENT_ALIAS_USAGES = Object.values(EVENT_ALIASES)
  .map((alias) => alias.usage)
  .join(', ');
