import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { decodeJob, encodeJob, type JobMeta } from './record.js';

describe('job records', () => {
  const meta: JobMeta = { id: 'a', status: 'done', owner: 'alice', createdAt: 1, updatedAt: 2, result: { status: 200, headers: [['content-type', 'application/octet-stream']] } };

  it('round-trips state and a binary body byte for byte', () => {
    const body = Buffer.from([0, 1, 2, 255, 0x4a, 0x31]);
    const rec = decodeJob(encodeJob(meta, body))!;
    expect(rec.meta).toEqual(meta);
    expect(Buffer.compare(rec.body, body)).toBe(0);
    expect(decodeJob(encodeJob({ ...meta, status: 'pending' }))!.body.length).toBe(0);
  });

  it.each([
    ['absent', undefined],
    ['empty', Buffer.alloc(0)],
    ['another format', Buffer.from('{"id":"a","status":"done"}')],
    ['a truncated state', encodeJob(meta).subarray(0, 12)],
    ['state that is not JSON', Buffer.concat([Buffer.from([0x4a, 0x31, 0, 0, 0, 3]), Buffer.from('{x}')])],
    ['state without an id', Buffer.concat([Buffer.from([0x4a, 0x31, 0, 0, 0, 2]), Buffer.from('{}')])],
  ])('reads %s as no job', (_desc, raw) => {
    expect(decodeJob(raw)).toBeUndefined();
  });
});
