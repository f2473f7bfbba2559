import * as os from 'node:os';
import { StrataError } from '../../core/common/errors';
import type { Logger } from '../../core/common/logger';
import { DiskSpaceMonitor, diskUsage, errnoCode, isOutOfSpace, isTransientIoError, outOfSpaceAtStart, type DiskUsage } from '../../core/log/diskSpace';

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = {
    debugEnabled: false,
    debug: () => undefined,
    info: (m) => lines.push(`INFO ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
    child: () => logger,
  };
  return { logger, lines };
}

const MiB = 1024 * 1024;
const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

test('errors are classified through their cause chain: space and descriptors come back, device errors do not', () => {
  const wrapped = new StrataError('STORAGE_IO', 'append to x.log: ENOSPC', { cause: enospc() });
  expect(errnoCode(wrapped)).toBe('ENOSPC');
  expect(isOutOfSpace(wrapped)).toBe(true);
  expect(isTransientIoError(wrapped)).toBe(true);
  expect(isTransientIoError(Object.assign(new Error('EMFILE'), { code: 'EMFILE' }))).toBe(true);
  const eio = new StrataError('STORAGE_IO', 'read', { cause: Object.assign(new Error('EIO'), { code: 'EIO' }) });
  expect([isOutOfSpace(eio), isTransientIoError(eio)]).toEqual([false, false]);
  expect(errnoCode(new StrataError('STORAGE_IO', 'no errno'))).toBeNull();
  expect(isOutOfSpace('ENOSPC')).toBe(false);
});

test('the monitor warns below the threshold, at most once per repeat interval, and says when space is back', () => {
  let free = 10 * MiB;
  const { logger, lines } = capture();
  const m = new DiskSpaceMonitor({ dir: '/data/logs', warnBytes: 4 * MiB, logger, repeatMs: 60_000, usage: (): DiskUsage => ({ freeBytes: free, totalBytes: 16 * MiB }) });
  m.check(0);
  expect(lines).toEqual([]);
  free = 3 * MiB;
  m.check(1000);
  m.check(2000);
  m.check(60_999);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^WARN low free space on the disk holding \/data\/logs: 3\.0 MiB free of 16\.0 MiB, below log\.dir\.free\.space\.warn\.bytes \(4\.0 MiB\)\. .*KAFKA_STORAGE_ERROR/);
  free = 1 * MiB;
  m.check(61_000);
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(/1\.0 MiB free/);
  expect(m.isLow).toBe(true);
  expect(m.freeBytes).toBe(1 * MiB);
  free = 5 * MiB;
  m.check(62_000);
  expect(lines[2]).toBe('INFO free space on the disk holding /data/logs is back above log.dir.free.space.warn.bytes: 5.0 MiB free');
  expect(m.isLow).toBe(false);
  // A threshold of 0 never warns; the gauge still reads.
  const off = capture();
  const quiet = new DiskSpaceMonitor({ dir: '/d', warnBytes: 0, logger: off.logger, usage: () => ({ freeBytes: 0, totalBytes: 1 }) });
  quiet.check(0);
  expect(off.lines).toEqual([]);
  expect(quiet.freeBytes).toBe(0);
});

test('the real statfs of a directory', () => {
  const u = diskUsage(os.tmpdir())!;
  expect(u.totalBytes).toBeGreaterThan(0);
  expect(u.freeBytes).toBeGreaterThanOrEqual(0);
  expect(u.freeBytes).toBeLessThanOrEqual(u.totalBytes);
  expect(diskUsage('/no/such/dir')).toBeNull();
});

test('a start-up that fails for want of space says so, where, and how to fix it; other errors pass unchanged', () => {
  const e = outOfSpaceAtStart(enospc(), '/var/lib/strata', () => ({ freeBytes: 0, totalBytes: 16 * MiB })) as StrataError;
  expect(e).toBeInstanceOf(StrataError);
  expect(e.code).toBe('STORAGE_IO');
  expect(e.message).toMatch(/^Cannot start: no space left on the device holding the data directory \/var\/lib\/strata \(0 B free of 16\.0 MiB\); ENOSPC: no space left on device, write\. /);
  expect(e.message).toMatch(/Free space on that file system .* then start the broker again/);
  const other = new Error('EACCES');
  expect(outOfSpaceAtStart(other, '/x')).toBe(other);
});
