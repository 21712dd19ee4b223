import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import { GatewayError } from '../../errors.js';

/**
 * `deprecation`: announces that a route (typically an API version) is deprecated —
 * `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link` with `rel="deprecation"` /
 * `rel="sunset"` / `rel="successor-version"` on every response — and, once the sunset has
 * passed, optionally answers 410 Gone instead of calling the upstream.
 *
 * @example
 *   - deprecation:
 *       since: 2025-01-01T00:00:00Z
 *       sunset: 2026-06-30T00:00:00Z
 *       link: https://developer.example.com/deprecations/orders-v1
 *       successor: /v2/orders
 *       goneAfterSunset: true
 */
const DateTime = (description: string) =>
  Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$', description: `${description} RFC 3339, e.g. 2026-06-30T00:00:00Z.` });

export const schema = Type.Object(
  {
    since: DateTime('When the resource was (or will be) deprecated: `Deprecation: @<unix seconds>` (RFC 9745 §2.1).'),
    sunset: Type.Optional(DateTime('When the resource stops answering: `Sunset: <HTTP-date>` (RFC 8594 §3).')),
    link: Type.Optional(Type.String({ minLength: 1, description: 'Human-readable deprecation notice: `Link: <…>; rel="deprecation"` (RFC 9745 §3).' })),
    sunsetLink: Type.Optional(Type.String({ minLength: 1, description: 'Sunset policy page: `Link: <…>; rel="sunset"` (RFC 8594 §6).' })),
    successor: Type.Optional(Type.String({ minLength: 1, description: 'What to use instead: `Link: <…>; rel="successor-version"` (RFC 5829).' })),
    goneAfterSunset: Type.Boolean({ default: false, description: 'After the sunset, answer 410 Gone (problem+json) instead of proxying.' }),
  },
  { additionalProperties: false },
);

/** `<uri>` with characters that would break the Link header (RFC 8288 §3) percent-encoded. */
function uriRef(u: string): string {
  return encodeURI(decodeURI(u)).replace(/[<>"]/g, (c) => encodeURIComponent(c));
}

export default definePolicy({
  name: 'deprecation',
  description: 'Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers; 410 Gone after the sunset.',
  schema,
  create(config, deps) {
    const since = Date.parse(config.since);
    const sunset = config.sunset === undefined ? undefined : Date.parse(config.sunset);
    if (Number.isNaN(since) || (sunset !== undefined && Number.isNaN(sunset))) throw new Error('deprecation: since and sunset must be RFC 3339 date-times');
    if (sunset !== undefined && sunset < since) throw new Error('deprecation: sunset must not be before since');
    // Everything is formatted once here; each request only appends these pairs.
    const headers: [string, string][] = [['deprecation', `@${Math.floor(since / 1000)}`]];
    if (sunset !== undefined) headers.push(['sunset', new Date(sunset).toUTCString()]);
    const links: string[] = [];
    if (config.link) links.push(`<${uriRef(config.link)}>; rel="deprecation"`);
    if (config.sunsetLink) links.push(`<${uriRef(config.sunsetLink)}>; rel="sunset"`);
    if (config.successor) links.push(`<${uriRef(config.successor)}>; rel="successor-version"`);
    if (links.length > 0) headers.push(['link', links.join(', ')]);
    const gone = config.goneAfterSunset && sunset !== undefined ? sunset : undefined;
    const clock = deps.clock;
    const route = deps.routeName ?? 'this API';
    return {
      request: function deprecation(ctx) {
        for (let i = 0; i < headers.length; i++) ctx.addResponseHeader(headers[i]![0], headers[i]![1]);
        if (gone !== undefined && clock.now() >= gone) {
          throw new GatewayError('GW_ERR_GONE', `${route} was retired on ${new Date(gone).toISOString()}.${config.successor ? ` Use ${config.successor}.` : ''}`);
        }
      },
    };
  },
});
