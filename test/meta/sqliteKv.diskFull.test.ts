import * as fs from 'node:fs';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { isOutOfSpace } from '../../core/log/diskSpace';
import { SqliteKv } from '../../core/meta/sqliteKv';
import { fillUp, mountTmpfs, unmountTmpfs } from '../helpers/tmpfs';

/**
 * metadata.sqlite on a full disk, for real: a 2 MiB tmpfs this test mounts (as root; skipped,
 * with the reason in the test's name, where that cannot be done). Writes fail with STORAGE_IO
 * naming the file (and ENOSPC in the cause chain, which the broker's out-of-space checks read),
 * change nothing, reads go on, and the same store writes again once space is freed.
 */
const TMPFS_BYTES = 2 * 1024 * 1024;

const mounted = mountTmpfs('strata-sqlite-full-', TMPFS_BYTES);
const mnt = 'dir' in mounted ? mounted.dir : '';

afterAll(() => {
  if (mnt) unmountTmpfs(mnt);
});

const diskTest = 'skip' in mounted ? test.skip : test;
const title = 'skip' in mounted ? `full disk (skipped: ${mounted.skip})` : 'a full disk: writes refused with STORAGE_IO and nothing applied, reads served, writes resume once there is room';

diskTest(title, async () => {
  const file = path.join(mnt, 'metadata.sqlite');
  let kv = await SqliteKv.open(file);
  try {
    for (let i = 0; i < 20; i++) await kv.put(`k${i}`, { i, pad: 'p'.repeat(500) }, null);
    fillUp(path.join(mnt, 'filler'));

    const failures: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      try {
        // Each needs new pages in the -wal file: a 20 KB value, an update, a delete.
        if (i % 3 === 0) await kv.put(`new${i}`, 'x'.repeat(20_000), null);
        else if (i % 3 === 1) await kv.put('k1', { i, pad: 'q'.repeat(20_000) }, 1);
        else await kv.delete('k2', 1);
      } catch (e) {
        failures.push(e);
      }
    }
    expect(failures).toHaveLength(5);
    for (const e of failures) {
      expect(isStrataError(e, 'STORAGE_IO')).toBe(true);
      expect((e as Error).message).toContain(`metadata store ${file}: the disk is full (SQLITE_FULL)`);
      expect((e as Error).message).toContain('nothing was written, and writes resume once the disk has room');
      expect(isOutOfSpace(e)).toBe(true);
    }
    // Nothing of them applied; reads go on.
    expect(await kv.get('new0')).toBeNull();
    expect(await kv.get('k1')).toMatchObject({ version: 1, value: { i: 1 } });
    expect(await kv.get('k2')).toMatchObject({ version: 1 });
    expect(await kv.list('k')).toHaveLength(20);

    fs.rmSync(path.join(mnt, 'filler'));
    expect(await kv.put('k1', { i: 1, after: true }, 1)).toBe(2);
    expect(await kv.put('new0', 'x'.repeat(20_000), null)).toBe(1);
    expect(await kv.delete('k2', 1)).toBe(true);
    await kv.close();

    // What a restart sees: the writes acknowledged, none of the refused ones.
    kv = await SqliteKv.open(file);
    expect(await kv.get('k1')).toMatchObject({ version: 2, value: { i: 1, after: true } });
    expect(await kv.get('k2')).toBeNull();
    expect((await kv.list('')).length).toBe(20);
  } finally {
    await kv.close();
  }
});
