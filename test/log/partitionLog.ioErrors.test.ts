import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { PartitionLog } from '../../core/log/partitionLog';
import { batch, captureLogger, makeTmpDir, readAll, removeDir, smallConfig } from './helpers';

/**
 * PartitionLog under I/O errors (core/log/partitionLog.ts, `offline`): running out of space or
 * descriptors refuses the append (STORAGE_IO, i.e. KAFKA_STORAGE_ERROR), leaves the log as it
 * was and the next append may succeed — also when the failure hits a segment roll; a device
 * error or a failed fsync takes the log offline for appends until it is reopened (a restart),
 * while reads go on.
 */

// Faults by file name: the next openSync of a matching path, and the next writeSync / fsyncSync.
const faults: { open: { match: RegExp; code: string } | null; write: string | null; fsync: string | null } = { open: null, write: null, fsync: null };
const errno = (code: string, call: string): Error => Object.assign(new Error(`${code}: injected, ${call}`), { code });
jest.mock('node:fs', () => {
  const real = jest.requireActual('node:fs');
  return {
    ...real,
    openSync: (p: string, ...rest: unknown[]) => {
      const f = faults.open;
      if (f && f.match.test(String(p))) {
        faults.open = null;
        throw errno(f.code, `open '${p}'`);
      }
      return real.openSync(p, ...rest);
    },
    writeSync: (...args: unknown[]) => {
      const code = faults.write;
      if (code) {
        faults.write = null;
        throw errno(code, 'write');
      }
      return real.writeSync(...args);
    },
    fsyncSync: (fd: number) => {
      const code = faults.fsync;
      if (code) {
        faults.fsync = null;
        throw errno(code, 'fsync');
      }
      return real.fsyncSync(fd);
    },
  };
});

let dir: string;
const logs: PartitionLog[] = [];
const captured = captureLogger();
function open(overrides: Parameters<typeof smallConfig>[0] = {}): PartitionLog {
  const log = PartitionLog.open(dir, smallConfig(overrides), { logger: captured.logger });
  logs.push(log);
  return log;
}
beforeEach(() => {
  dir = path.join(makeTmpDir(), 'topic-0');
  captured.lines.length = 0;
});
afterEach(() => {
  faults.open = faults.write = faults.fsync = null;
  for (const l of logs.splice(0)) l.close();
  removeDir(path.dirname(dir));
});

function append(log: PartitionLog, label: string, count = 3): bigint {
  return log.append(batch({ count, label, valueSize: 200 }), { leaderEpoch: 1 }).baseOffset;
}

function storageError(fn: () => unknown): StrataError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StrataError);
    expect((e as StrataError).code).toBe('STORAGE_IO');
    return e as StrataError;
  }
  throw new Error('did not throw');
}

test('a full disk during an append: refused, nothing kept, the log stays online and the next append succeeds', () => {
  const log = open();
  append(log, 'a');
  const before = readAll(log);
  faults.write = 'ENOSPC';
  expect(storageError(() => append(log, 'b')).message).toMatch(/ENOSPC/);
  expect(log.offline).toBeNull();
  expect(readAll(log)).toEqual(before);
  expect(append(log, 'c')).toBe(3n);
});

test('a roll that cannot create the new segment (ENOSPC, EMFILE) keeps the active segment writable', () => {
  const log = open();
  while (log.segments().length === 1) {
    const seg = log.segments()[0];
    if (seg.size + 900 > 4096) break;
    append(log, `x${seg.nextOffset}`);
  }
  const base = log.logEndOffset;
  for (const code of ['ENOSPC', 'EDQUOT']) {
    faults.open = { match: new RegExp(`${String(base).padStart(20, '0')}\\.log$`), code };
    expect(storageError(() => append(log, 'rolls')).message).toMatch(new RegExp(`rolling a new segment .*${code}`));
    expect(log.offline).toBeNull();
    expect(log.segments().map((s) => s.closed)).toEqual([false]);
  }
  // Out of descriptors: the file cache closes an idle one (an index of this log) and opens again.
  faults.open = { match: new RegExp(`${String(base).padStart(20, '0')}\\.log$`), code: 'EMFILE' };
  expect(append(log, 'rolls')).toBe(base);
  expect(faults.open).toBeNull();
  expect(log.segments().map((s) => s.closed)).toEqual([true, false]);
  const all = readAll(log);
  log.close();
  expect(readAll(open())).toEqual(all);
});

test('a producer snapshot that cannot be written at a roll does not fail the append', () => {
  const log = open();
  while (log.segments().length === 1) append(log, 'y');
  expect(log.segments().length).toBe(2);
  // The next roll's snapshot fails; the append that rolled succeeds.
  faults.open = { match: /\.snapshot\.tmp$|\.snapshot$/, code: 'ENOSPC' };
  while (log.segments().length === 2) append(log, 'z');
  expect(faults.open).toBeNull();
  expect(captured.lines.some((l) => /producer state snapshot at offset \d+ failed .*ENOSPC/.test(l))).toBe(true);
});

test('a device error (EIO) takes the log offline for appends until it is reopened; reads go on', () => {
  const log = open();
  append(log, 'a');
  faults.write = 'EIO';
  storageError(() => append(log, 'b'));
  expect(log.offline).toMatch(/EIO/);
  expect(storageError(() => append(log, 'c')).message).toMatch(/offline .*until the broker restarts/);
  expect(readAll(log).map(([o]) => o)).toEqual([0n, 1n, 2n]);
  log.close();
  expect(fs.existsSync(path.join(dir, 'clean-shutdown'))).toBe(false); // the next open checks everything
  const again = open();
  expect(again.offline).toBeNull();
  expect(append(again, 'd')).toBe(3n);
});

test('an fsync that fails (flush.messages=1) undoes the append and takes the log offline', () => {
  const log = open({ flushMessages: 1 });
  append(log, 'a');
  faults.fsync = 'EIO';
  expect(storageError(() => append(log, 'b')).message).toMatch(/fsync failed, the append was undone/);
  expect(log.logEndOffset).toBe(3n);
  expect(readAll(log).map(([o]) => o)).toEqual([0n, 1n, 2n]);
  expect(log.offline).toMatch(/fsync failed/);
});
