/**
 * What `camera setup` sends unless told otherwise, beyond the pulse (./pulse.ts). A module of its
 * own so that the CLI's option help can state them without loading the VAPIX client.
 *
 * @module
 */

/** Post-trigger window of the send-images action in ms; Axis' own setup script uses 3 s with 1 image. */
export const DEFAULT_POST_DURATION_MS = 3000;

/** A clip's time before and after the event in ms: a 10 s clip around the moment. */
export const DEFAULT_CLIP_PRE_MS = 3000;
export const DEFAULT_CLIP_POST_MS = 7000;

/** The camera's name for a clip: its time to the hundredth (Axis records Matroska). */
export const DEFAULT_CLIP_FILENAME = 'clip%y-%m-%d_%H-%M-%S-%f.mkv';
