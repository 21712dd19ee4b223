/**
 * The closed list of phases a policy may hook into (see docs/concepts.md).
 *
 * - `request`  runs before the target, in policy order; may answer the request itself.
 * - `response` runs when the response head is known (upstream headers, a static reply,
 *   or a reply a request hook produced); may change status and headers and wrap the body.
 * - `log`      runs after the response is finished or the client went away; never blocks it.
 *
 * Unknown hook names returned by a policy factory are rejected at config load.
 */
export const PHASES = ['request', 'response', 'log'] as const;

export type Phase = (typeof PHASES)[number];
