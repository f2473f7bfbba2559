import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import { CLEANER_CHECKPOINT_FILE, CLEAN_SHUTDOWN_FILE, LOG_START_OFFSET_FILE } from './segmentFiles';

/**
 * The small state files of a partition directory besides its segments.
 *
 * log-start-offset: the log start offset as decimal text, written (atomically: temp file, fsync,
 * rename) only when DeleteRecords moves it past the first segment's base offset; otherwise the
 * first segment's base offset is the log start.
 *
 * clean-shutdown: an empty marker written after a clean close has fsynced everything. Its presence
 * on open means the active segment's indexes can be trusted and only the tail after the last
 * index entry needs checking; open removes it before the log changes again, so a crash while
 * open always leads to a full check of the active segment.
 *
 * cleaner-offset-checkpoint: compacted topics only, written (atomically) after each cleaning
 * round: `<firstDirtyOffset> <deleteHorizonMs>` as decimal text. The first dirty offset is where
 * the next round's dirty section starts (Kafka keeps the same number per log dir in its own
 * cleaner-offset-checkpoint); the delete horizon is the earliest time a tombstone kept by the
 * last round may be removed, -1 when none was kept. Losing the file only costs a full re-clean.
 */

const OFFSET_RE = /^(\d{1,19})\n?$/;

/** The persisted log start offset, or null when there is none or it is unreadable. */
export function readLogStartOffset(dir: string): bigint | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, LOG_START_OFFSET_FILE), 'utf8');
  } catch {
    return null;
  }
  const m = OFFSET_RE.exec(text);
  if (m === null) return null;
  const v = BigInt(m[1]);
  return v <= (1n << 63n) - 1n ? v : null;
}

export function writeLogStartOffset(dir: string, offset: bigint): void {
  writeAtomically(dir, LOG_START_OFFSET_FILE, `${offset}\n`);
}

export interface CleanerCheckpoint {
  /** The cleaner's next dirty section starts here. */
  firstDirtyOffset: bigint;
  /** Earliest delete horizon (ms) of a tombstone the cleaner kept, -1 when it kept none. */
  deleteHorizonMs: number;
}

const CLEANER_CHECKPOINT_RE = /^(\d{1,19}) (-1|\d{1,16})\n?$/;

/** The cleaner checkpoint, or null when there is none or it is unreadable (the cleaner then starts over). */
export function readCleanerCheckpoint(dir: string): CleanerCheckpoint | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, CLEANER_CHECKPOINT_FILE), 'utf8');
  } catch {
    return null;
  }
  const m = CLEANER_CHECKPOINT_RE.exec(text);
  if (m === null) return null;
  const firstDirtyOffset = BigInt(m[1]);
  if (firstDirtyOffset > (1n << 63n) - 1n) return null;
  return { firstDirtyOffset, deleteHorizonMs: Number(m[2]) };
}

export function writeCleanerCheckpoint(dir: string, c: CleanerCheckpoint): void {
  const horizon = Number.isFinite(c.deleteHorizonMs) && c.deleteHorizonMs >= 0 ? Math.floor(c.deleteHorizonMs) : -1;
  writeAtomically(dir, CLEANER_CHECKPOINT_FILE, `${c.firstDirtyOffset} ${horizon}\n`);
}

/** Temp file, fsync, rename, fsync the directory: a reader sees the old or the new text, whole. */
export function writeAtomically(dir: string, name: string, text: string): void {
  const file = path.join(dir, name);
  const tmp = `${file}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    throw new StrataError('STORAGE_IO', `write ${file}: ${(e as Error).message}`, { cause: e });
  }
  syncDir(dir);
}

/** Whether the marker exists; removes it (durably) so the next open after a crash is a full check. */
export function takeCleanShutdownMarker(dir: string): boolean {
  const file = path.join(dir, CLEAN_SHUTDOWN_FILE);
  try {
    fs.unlinkSync(file);
  } catch {
    return false;
  }
  syncDir(dir);
  return true;
}

export function writeCleanShutdownMarker(dir: string): void {
  try {
    fs.closeSync(fs.openSync(path.join(dir, CLEAN_SHUTDOWN_FILE), 'w', 0o644));
  } catch {
    // Without the marker the next open checks the whole active segment: slower, never wrong.
  }
}

/**
 * fsyncs a directory so that file creations, renames and removals in it survive a crash. Some
 * platforms cannot fsync a directory; there this is best effort.
 */
export function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort (e.g. EISDIR/EPERM on some platforms)
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
