import type { IncomingMessage } from 'node:http';

/**
 * RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
 * HTTP/1.1 request message that lacks a Host header field and to any request message that
 * contains more than one Host header field line or a Host header field with an invalid
 * field value." Node checks only the first (when `requireHostHeader` is on, with an empty
 * body, so the gateway does it itself for a problem+json answer); llhttp accepts any
 * printable value and keeps every Host line it reads.
 *
 * A second Host line is how a front proxy and a back one come to disagree about which
 * site a request is for; a Host that is not `uri-host [":" port]` reaches X-Forwarded-Host,
 * `Forwarded` and (with `preserveHost`) the upstream's own Host.
 *
 * @example
 *   hostProblem(req) // undefined, or 'An HTTP/1.1 request needs a Host header.'
 */
export function hostProblem(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (host === undefined) return req.httpVersionMinor === 1 && req.httpVersionMajor === 1 ? 'An HTTP/1.1 request needs a Host header.' : undefined;
  if (host !== lastValid) {
    if (!HOST.test(host)) return 'The Host header is not a host name or address with an optional port.';
    lastValid = host;
  }
  // Node keeps the first of several Host lines in `headers`; the raw list has them all.
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host') && ++seen > 1) return 'A request may carry one Host header only.';
  }
  return undefined;
}

/** Whether `host` is `uri-host [":" port]` (see HOST). */
export function isValidHost(host: string): boolean {
  if (host === lastValid) return true;
  if (!HOST.test(host)) return false;
  lastValid = host;
  return true;
}

/**
 * `uri-host [ ":" port ]` (RFC 3986 §3.2.2–3.2.3): an IP-literal in brackets, or a reg-name
 * (unreserved, sub-delims and percent escapes; IPv4 addresses are reg-names to this
 * grammar). Empty is valid: a client sends an empty Host for a target URI with no
 * authority (RFC 9112 §3.2).
 */
const HOST = /^(?:\[[0-9A-Za-z:.%~_-]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/** Clients of one gateway mostly send the same Host: the last value found valid skips the test. */
let lastValid = '';
