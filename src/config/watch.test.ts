import { mkdirSync, renameSync, symlinkSync, writeFileSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, sleep, writeTempConfig } from '../../test/helpers.js';
import { FileWatch, watchConfig } from './watch.js';

/** Waits until `fn` is true (rejects after 3 s). */
const until = (fn: () => boolean, what: string) => eventually(() => fn() || undefined, 3000, what);

describe('watchConfig', () => {
  const stops: (() => void)[] = [];
  afterEach(() => stops.splice(0).forEach((s) => s()));

  it('fires once after a burst of writes settles (debounce)', async () => {
    const file = writeTempConfig('a: 1\n');
    let n = 0;
    // The debounce is long next to the 10 ms between writes, so that a busy machine (timers
    // late by 100 ms or more) still sees one burst.
    stops.push(watchConfig(file, 400, () => n++));
    for (let i = 0; i < 5; i++) {
      writeFileSync(file, `a: ${i}\n`);
      await sleep(10);
    }
    await until(() => n === 1, 'one call');
    await sleep(600);
    expect(n).toBe(1);
  });

  it('sees an editor-style replace (write a temp file, rename over)', async () => {
    const file = writeTempConfig('a: 1\n');
    let n = 0;
    stops.push(watchConfig(file, 50, () => n++));
    const tmp = join(dirname(file), '.gateway.yaml.swp');
    writeFileSync(tmp, 'a: 2\n');
    renameSync(tmp, file);
    await until(() => n >= 1, 'a call');
  });

  it('sees a Kubernetes ConfigMap update (the ..data symlink swapped)', async () => {
    const dir = dirname(writeTempConfig('x: 1\n', 'unused.yaml'));
    const mount = join(dir, 'mount');
    mkdirSync(join(mount, '..v1'), { recursive: true });
    mkdirSync(join(mount, '..v2'));
    writeFileSync(join(mount, '..v1', 'gateway.yaml'), 'a: 1\n');
    writeFileSync(join(mount, '..v2', 'gateway.yaml'), 'a: 2\n');
    symlinkSync('..v1', join(mount, '..data'));
    symlinkSync('..data/gateway.yaml', join(mount, 'gateway.yaml'));
    let n = 0;
    stops.push(watchConfig(join(mount, 'gateway.yaml'), 50, () => n++));
    // What the kubelet does: a new ..data_tmp link renamed over ..data.
    symlinkSync('..v2', join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    await until(() => n >= 1, 'a call');
  });

  it('ignores other files in the directory', async () => {
    const file = writeTempConfig('a: 1\n');
    let n = 0;
    stops.push(watchConfig(file, 50, () => n++));
    const other = join(dirname(file), 'notes.txt');
    writeFileSync(other, 'x');
    unlinkSync(other);
    await sleep(300);
    expect(n).toBe(0);
  });

  it('a config folder: any .yaml/.yml file written, added or removed fires; other files, hidden ones and ignored ones do not', async () => {
    const dir = dirname(writeTempConfig('version: 1\n', '00-base.yaml'));
    writeFileSync(join(dir, '10-routes.yaml'), 'routes: []\n');
    let n = 0;
    stops.push(watchConfig(dir, 50, () => n++, (f) => f === join(dir, 'user.yaml')));
    writeFileSync(join(dir, 'README.txt'), 'x');
    writeFileSync(join(dir, '.10-routes.yaml.swp'), 'x');
    writeFileSync(join(dir, '.10-routes.yaml'), 'x');
    writeFileSync(join(dir, 'user.yaml'), 'type: object\n');
    await sleep(300);
    expect(n).toBe(0);
    writeFileSync(join(dir, '10-routes.yaml'), 'routes: [ a ]\n');
    await until(() => n === 1, 'the edit');
    writeFileSync(join(dir, '20-more.yml'), 'routes: [ b ]\n');
    await until(() => n === 2, 'the added file');
    unlinkSync(join(dir, '20-more.yml'));
    await until(() => n === 3, 'the removed file');
  });
});

describe('FileWatch', () => {
  const stops: (() => void)[] = [];
  afterEach(() => stops.splice(0).forEach((s) => s()));

  it('reports the watched files written in a burst, once; other files of their folder are ignored', async () => {
    const dir = dirname(writeTempConfig('x: 1\n', 'unused.yaml'));
    const seen: string[][] = [];
    const w = new FileWatch(100, (files) => seen.push(files));
    stops.push(() => w.stop());
    w.set([join(dir, 'a.pem'), join(dir, 'a-key.pem')]);
    writeFileSync(join(dir, 'other.pem'), 'x');
    await sleep(300);
    expect(seen).toEqual([]);
    writeFileSync(join(dir, 'a-key.pem'), 'k');
    writeFileSync(join(dir, 'a.pem'), 'c');
    await until(() => seen.length === 1, 'one call');
    await sleep(200);
    expect(seen).toEqual([[join(dir, 'a-key.pem'), join(dir, 'a.pem')]]);
  });

  it('sees a Kubernetes Secret update (the ..data symlink swapped) as a change of every watched file of the folder', async () => {
    const dir = dirname(writeTempConfig('x: 1\n', 'unused.yaml'));
    const mount = join(dir, 'tls');
    mkdirSync(join(mount, '..v1'), { recursive: true });
    mkdirSync(join(mount, '..v2'));
    for (const v of ['..v1', '..v2']) for (const f of ['tls.crt', 'tls.key']) writeFileSync(join(mount, v, f), v);
    symlinkSync('..v1', join(mount, '..data'));
    for (const f of ['tls.crt', 'tls.key']) symlinkSync(`..data/${f}`, join(mount, f));
    const seen: string[][] = [];
    const w = new FileWatch(50, (files) => seen.push(files));
    stops.push(() => w.stop());
    w.set([join(mount, 'tls.crt'), join(mount, 'tls.key')]);
    symlinkSync('..v2', join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    await until(() => seen.length >= 1, 'a call');
    expect(seen[0]).toEqual([join(mount, 'tls.crt'), join(mount, 'tls.key')]);
  });

  it('set() replaces the files: a folder no longer named is not watched', async () => {
    const a = dirname(writeTempConfig('x: 1\n', 'unused.yaml'));
    const b = dirname(writeTempConfig('x: 1\n', 'unused.yaml'));
    const seen: string[][] = [];
    const w = new FileWatch(50, (files) => seen.push(files));
    stops.push(() => w.stop());
    w.set([join(a, 'one.pem')]);
    w.set([join(b, 'two.pem')]);
    expect(w.files).toEqual([join(b, 'two.pem')]);
    writeFileSync(join(a, 'one.pem'), 'x');
    await sleep(300);
    expect(seen).toEqual([]);
    writeFileSync(join(b, 'two.pem'), 'x');
    await until(() => seen.length === 1, 'a call');
    expect(seen[0]).toEqual([join(b, 'two.pem')]);
  });
});
