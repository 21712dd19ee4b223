import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfigFile, usableConfigFile } from './config-file.js';

describe('readConfigFile: one read per config object and file (per load)', () => {
  it('a config object keeps the bytes of its first read of each file; another object (the next load) reads afresh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-config-file-'));
    writeFileSync(join(dir, 'cert.pem'), 'cert 1');
    writeFileSync(join(dir, 'key.pem'), 'key 1');
    const tls = { cert: 'cert.pem', key: 'key.pem' };
    expect(readConfigFile(tls, dir, 'cert.pem')).toEqual({ bytes: Buffer.from('cert 1') });
    writeFileSync(join(dir, 'cert.pem'), 'cert 2');
    writeFileSync(join(dir, 'key.pem'), 'key 2');
    expect(usableConfigFile(tls, dir, 'cert.pem', ['cert']).toString()).toBe('cert 1');
    // Each file of the object has its own read: the key is first read now.
    expect(usableConfigFile(tls, dir, 'key.pem', ['key']).toString()).toBe('key 2');
    expect(usableConfigFile({ ...tls }, dir, 'cert.pem', ['cert']).toString()).toBe('cert 2');
  });

  it('a file that cannot be read is a BuildError at the path given, and stays unread for that object', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-config-file-'));
    const tls = {};
    expect(readConfigFile(tls, dir, 'nope.pem')).toMatchObject({ unreadable: { code: 'ENOENT' } });
    writeFileSync(join(dir, 'nope.pem'), 'now here');
    expect(() => usableConfigFile(tls, dir, 'nope.pem', ['tls', 'key'])).toThrow(/^cannot read nope\.pem: no such file or directory \(ENOENT\)$/);
    expect(usableConfigFile({}, dir, 'nope.pem', ['tls', 'key']).toString()).toBe('now here');
  });
});
