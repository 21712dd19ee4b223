import { Buffer } from 'node:buffer';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

/**
 * A request made inside the gateway (a `batch:` sub-request), standing in for the
 * `IncomingMessage` node:http would have parsed: method, target, headers (both the raw list
 * and node's folded object), and a body streamed from memory. Its `socket` is the batch
 * client's connection, so the client address, TLS state and client certificate are the
 * batch request's. Listeners see it through `ListenerInfo.dispatch`.
 */
export class SyntheticRequest extends Readable {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
  readonly connection: Socket;
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly trailers = {};
  readonly rawTrailers: string[] = [];
  complete = false;
  #body: Buffer | undefined;

  constructor(parent: IncomingMessage, method: string, url: string, rawHeaders: string[], body: Buffer | undefined) {
    super();
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.headers = foldHeaders(rawHeaders);
    this.socket = parent.socket;
    this.connection = parent.socket;
    this.#body = body;
  }

  override _read(): void {
    const b = this.#body;
    this.#body = undefined;
    if (b !== undefined && b.length > 0) this.push(b);
    this.complete = true;
    this.push(null);
  }
}

/** node:http's folding of a raw header list into an object (RFC 9110 §5.3: repeated fields join with commas; Cookie with `; `; Set-Cookie stays a list). */
function foldHeaders(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const v = raw[i + 1]!;
    const cur = out[k];
    if (k === 'set-cookie') out[k] = cur === undefined ? [v] : [...(cur as string[]), v];
    else if (cur === undefined) out[k] = v;
    else out[k] = `${cur as string}${k === 'cookie' ? '; ' : ', '}${v}`;
  }
  return out as IncomingHttpHeaders;
}

