import { Buffer } from 'node:buffer';

/** Where a job is: accepted, sent upstream, answered, or given up on. */
export type JobStatus = 'pending' | 'running' | 'done' | 'failed';

/** A job's state as stored (the result body travels beside it, see `encodeJob`). */
export interface JobMeta {
  id: string;
  status: JobStatus;
  /** Consumer id of the creator, or null on a route without authentication. */
  owner: string | null;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  /** When done: the upstream's status and the kept headers (`resultHeaders`). */
  result?: { status: number; headers: [string, string][] };
  /** When failed: the gateway error code and a client-facing detail. */
  error?: { code: string; detail: string };
}

/** A decoded record: its state and the stored result body (empty unless done). */
export interface JobRecord {
  meta: JobMeta;
  body: Buffer;
}

/** Format tag: a record that does not start with it is not a job (or from a future format). */
const MAGIC = 0x4a31; // "J1"
const HEAD = 6;

/**
 * One store value per job: `J1` tag, u32 length of the JSON state, the state, then the
 * result body as raw bytes (no base64: bodies up to `maxResultSize` are stored as sent).
 *
 * @example
 *   store.set(key, encodeJob({ id, status: 'pending', owner: null, createdAt: now, updatedAt: now }), ttl);
 *   decodeJob(await store.get(key))?.meta.status; // 'pending'
 */
export function encodeJob(meta: JobMeta, body?: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const head = Buffer.allocUnsafe(HEAD);
  head.writeUInt16BE(MAGIC, 0);
  head.writeUInt32BE(json.length, 2);
  return body === undefined || body.length === 0 ? Buffer.concat([head, json]) : Buffer.concat([head, json, body]);
}

/** The record in `raw`, or undefined when it is absent or not a job record. */
export function decodeJob(raw: Buffer | undefined): JobRecord | undefined {
  if (raw === undefined || raw.length < HEAD || raw.readUInt16BE(0) !== MAGIC) return undefined;
  const n = raw.readUInt32BE(2);
  if (HEAD + n > raw.length) return undefined;
  try {
    const meta = JSON.parse(raw.subarray(HEAD, HEAD + n).toString('utf8')) as JobMeta;
    if (typeof meta !== 'object' || meta === null || typeof meta.id !== 'string' || typeof meta.status !== 'string') return undefined;
    return { meta, body: raw.subarray(HEAD + n) };
  } catch {
    return undefined;
  }
}

/** Store key of a job of route `route`. */
export function jobKey(route: string, id: string): string {
  return `job:${route}:${id}`;
}
