import * as fs from 'node:fs';
import { StrataError } from '../common/errors';
import type { Logger } from '../common/logger';

/**
 * Free space of the data directory's file system, and what the broker does about it.
 *
 * A full disk is an operating condition, not a fault: appends and metadata writes fail with
 * KAFKA_STORAGE_ERROR (retriable) and leave nothing behind, reads go on, and everything resumes
 * by itself once space returns. This module gives operators warning before that happens
 * (log.dir.free.space.warn.bytes, the strata_log_dir_free_bytes gauge) and names the cause
 * when it does (isOutOfSpace, outOfSpaceAtStart).
 */

/** errno codes that mean "no room", as opposed to a failing device: space can come back. */
const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);
/** errno codes of resources that run out and come back (space, file descriptors): nothing is wrong with the data. */
const TRANSIENT = new Set([...OUT_OF_SPACE, 'EMFILE', 'ENFILE']);

/** The errno code (ENOSPC, EIO, …) of `e` or of the first error in its cause chain that has one. */
export function errnoCode(e: unknown): string | null {
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 8; cur = cur.cause, depth++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  }
  return null;
}

/** Whether `e`, or an error in its cause chain, is ENOSPC or EDQUOT. */
export function isOutOfSpace(e: unknown): boolean {
  const code = errnoCode(e);
  return code !== null && OUT_OF_SPACE.has(code);
}

/**
 * Whether a failed file operation ran out of something that comes back (space, descriptors), as
 * opposed to a device or file system failing (EIO, EROFS, …), after which Strata, like Kafka,
 * stops writing to the log until a restart has checked it.
 */
export function isTransientIoError(e: unknown): boolean {
  const code = errnoCode(e);
  return code !== null && TRANSIENT.has(code);
}

export interface DiskUsage {
  /** Bytes an unprivileged process may still write (statfs f_bavail × f_bsize), as `df` shows. */
  freeBytes: number;
  totalBytes: number;
}

/** statfs of the file system holding `dir`; null when it cannot be read (then nothing is judged). */
export function diskUsage(dir: string): DiskUsage | null {
  try {
    const s = fs.statfsSync(dir);
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  } catch {
    return null;
  }
}

/** Bytes in a short human form, for log lines: 3.2 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export interface DiskSpaceMonitorOptions {
  /** The data directory (log.dirs). */
  dir: string;
  /** log.dir.free.space.warn.bytes: warn while free space is below it; 0 turns the warning off. */
  warnBytes: number;
  logger: Logger;
  /** While free space stays low, the warning is repeated at most this often. Default 60 s. */
  repeatMs?: number;
  /** Tests. */
  usage?: (dir: string) => DiskUsage | null;
}

/**
 * Watches free space under the data directory. `check` is cheap (one statfs) and is called from
 * the broker's housekeeping tick; it warns when free space drops below the threshold, repeats
 * the warning at most once a minute while it stays low (with the current figure), and says
 * when it is back above. `freeBytes` reads the current value, for the metrics gauge.
 */
export class DiskSpaceMonitor {
  private low = false;
  private lastWarnAt = -Infinity;
  private last: DiskUsage | null = null;
  private readonly repeatMs: number;
  private readonly usage: (dir: string) => DiskUsage | null;

  constructor(private readonly opts: DiskSpaceMonitorOptions) {
    this.repeatMs = opts.repeatMs ?? 60_000;
    this.usage = opts.usage ?? diskUsage;
  }

  /** Free bytes now (one statfs, no warning logic: for the metrics gauge); -1 when statfs fails. */
  get freeBytes(): number {
    const u = this.usage(this.opts.dir);
    return u ? u.freeBytes : -1;
  }

  /** What the last check saw, or null. */
  get lastUsage(): DiskUsage | null {
    return this.last;
  }

  /** Whether free space was below the threshold at the last check. */
  get isLow(): boolean {
    return this.low;
  }

  check(now: number = Date.now()): DiskUsage | null {
    const u = this.usage(this.opts.dir);
    this.last = u;
    if (u === null || this.opts.warnBytes <= 0) return u;
    const { dir, warnBytes, logger } = this.opts;
    if (u.freeBytes < warnBytes) {
      if (!this.low || now - this.lastWarnAt >= this.repeatMs) {
        logger.warn(
          `low free space on the disk holding ${dir}: ${formatBytes(u.freeBytes)} free of ${formatBytes(u.totalBytes)}, ` +
            `below log.dir.free.space.warn.bytes (${formatBytes(warnBytes)}). When it runs out, produce requests, offset commits ` +
            `and topic changes fail with KAFKA_STORAGE_ERROR (reads go on) until space is freed: lower retention.ms / ` +
            `retention.bytes, delete topics or other files on that disk, or grow it`,
        );
        this.lastWarnAt = now;
      }
      this.low = true;
    } else if (this.low) {
      this.low = false;
      logger.info(`free space on the disk holding ${dir} is back above log.dir.free.space.warn.bytes: ${formatBytes(u.freeBytes)} free`);
    }
    return u;
  }
}

/**
 * The error a broker start-up fails with when the disk is full: what happened, where, and how
 * to fix it, instead of a bare ENOSPC. Other errors are returned unchanged.
 */
export function outOfSpaceAtStart(e: unknown, dataDir: string, usage: (dir: string) => DiskUsage | null = diskUsage): unknown {
  if (!isOutOfSpace(e)) return e;
  const u = usage(dataDir);
  const free = u ? ` (${formatBytes(u.freeBytes)} free of ${formatBytes(u.totalBytes)})` : '';
  return new StrataError(
    'STORAGE_IO',
    `Cannot start: no space left on the device holding the data directory ${dataDir}${free}; ${(e as Error).message}. ` +
      'The broker needs room for its metadata store, lock files and partition logs. Free space on that file system ' +
      '(remove other files, or grow it), or move the data directory to a larger disk and point log.dirs (--data-dir) at it, ' +
      'then start the broker again: nothing acknowledged is lost meanwhile.',
    { cause: e },
  );
}
