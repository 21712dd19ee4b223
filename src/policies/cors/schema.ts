import { Type, type Static } from '@sinclair/typebox';
import { Duration, HeaderName, RegexSource } from '../../config/types.js';

/** A method token (RFC 9110 §9.1) or `*`. */
const Method = Type.String({ pattern: '^(\\*|[!#$%&\'*+.^_`|~0-9A-Za-z-]+)$' });
/** A field name or `*`. */
const FieldOrWildcard = Type.Union([Type.Literal('*'), HeaderName()]);

/**
 * `cors` config: the Fetch standard's CORS protocol (https://fetch.spec.whatwg.org/#http-cors-protocol).
 *
 * @example
 *   - cors:
 *       origins: [https://app.example.com, "https://*.example.com"]
 *       credentials: true
 *       exposeHeaders: [x-request-id]
 */
export const schema = Type.Object(
  {
    origins: Type.Array(Type.String({ minLength: 1 }), {
      default: ['*'],
      description:
        'Origins that may read responses: `*` (any; not with credentials), exact origins (`https://app.example.com`, `http://localhost:3000`), wildcard subdomains (`https://*.example.com`: any subdomain, not the apex), or `null`.',
    }),
    originRegex: Type.Array(RegexSource(), {
      default: [],
      description: 'Regular expressions an origin may match instead (anchor them: `^https://(a|b)\\.example\\.com$`).',
    }),
    methods: Type.Array(Method, {
      minItems: 1,
      default: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      description: 'Methods a preflight may ask for (Access-Control-Allow-Methods); `*` allows any.',
    }),
    allowHeaders: Type.Union([Type.Literal('reflect'), Type.Array(FieldOrWildcard)], {
      default: 'reflect',
      description: 'Request headers a preflight may ask for (Access-Control-Allow-Headers): `reflect` echoes Access-Control-Request-Headers; a list allows those names only; `*` allows any.',
    }),
    exposeHeaders: Type.Array(FieldOrWildcard, {
      default: [],
      description: 'Response headers scripts may read beyond the CORS-safelisted ones (Access-Control-Expose-Headers); `*` exposes all (not with credentials).',
    }),
    credentials: Type.Boolean({
      default: false,
      description: 'Let browsers send cookies and HTTP auth, and scripts read the response (Access-Control-Allow-Credentials: true). Needs listed origins, not `*`.',
    }),
    maxAge: Duration({
      default: '10m',
      description: 'How long browsers may cache a preflight answer (Access-Control-Max-Age, whole seconds; Chromium caps it at 2h).',
    }),
    preflight: Type.Boolean({
      default: true,
      description: 'Answer preflights (OPTIONS with Origin and Access-Control-Request-Method) at the gateway; they are never forwarded. false: preflights go on to the target like any request.',
    }),
    preflightStatus: Type.Union([Type.Literal(204), Type.Literal(200)], {
      default: 204,
      description: 'Status of an accepted preflight answer (200 for old clients that want it).',
    }),
  },
  { additionalProperties: false },
);

export type CorsConfig = Static<typeof schema>;
