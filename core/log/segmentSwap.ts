import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import { syncDir } from './checkpointFiles';
import {
  CleanerFileSuffix,
  SEGMENT_FILE_EXTS,
  SegmentFileExt,
  SegmentFileSuffix,
  TXN_INDEX_EXT,
  parseCleanerFileName,
  parseTxnIndexFileName,
  segmentPath,
  txnIndexFileName,
} from './segmentFiles';

/**
 * Replacing segments with the cleaner's output, crash-safely (Kafka's `.cleaned` → `.swap` →
 * rename protocol, with the old segments renamed to `.deleted` *before* the commit so that
 * recovery knows exactly which segments a swap replaces).
 *
 * The cleaner writes (and fsyncs) `B.log.cleaned`, `B.index.cleaned`, `B.timeindex.cleaned` and,
 * when the cleaned segment keeps an aborted transaction, `B.txnindex.cleaned` (no file means an
 * empty aborted-transaction index), where B is the base offset of the first segment it replaces.
 * Then, on the main thread:
 *
 *   1. every file of every replaced segment:   X → X.deleted      (B's own files included;
 *                                                                  .txnindex too, when it exists)
 *   2. fsync the directory
 *   3. B.index.cleaned → B.index.swap, B.timeindex.cleaned → B.timeindex.swap,
 *      B.txnindex.cleaned → B.txnindex.swap (when it exists)
 *   4. B.log.cleaned → B.log.swap; fsync the directory             ← the commit point
 *   5. remove every X.deleted
 *   6. B.index.swap → B.index, B.timeindex.swap → B.timeindex, B.txnindex.swap → B.txnindex,
 *      B.log.swap → B.log; fsync
 *
 * Recovery (`recoverCleanerFiles`, run by PartitionLog.open before it lists segments) decides by
 * one fact: does some `*.log.swap` exist?
 *
 *   yes → the swap committed: remove every `.deleted` file, finish step 6 for every `.swap`
 *         file whose `.log.swap` exists (indexes first, the log last, so a crash during recovery
 *         still finds the `.log.swap`), remove other `.swap` files;
 *   no  → it did not (or it finished): remove `.cleaned` and `.swap` files, and rename every
 *         `.deleted` file back to its name.
 *
 * Step 5 runs before step 6, so a `.deleted` file never outlives the `.log.swap` that says it
 * is obsolete: "no .log.swap" always means "the .deleted files are the live data". A crash at any
 * point leaves either the old segments or the new one, never both or neither — and with them
 * exactly their aborted-transaction indexes: the old `.txnindex` files are renamed away in step 1
 * even when the cleaned segment has none, so a committed swap never keeps an old entry. One swap
 * runs at a time per directory (the cleaner swaps group by group).
 */

/** The files one segment has, as far as a swap is concerned. */
type SwapFileKind = SegmentFileExt | typeof TXN_INDEX_EXT;

/** Renamed in this order; the .log last (in step 4 it is the commit, in step 6 the end). */
const SWAP_FILE_KINDS: readonly SwapFileKind[] = ['.index', '.timeindex', TXN_INDEX_EXT, '.log'];
const CLEANER_SUFFIXES: readonly CleanerFileSuffix[] = ['.cleaned', '.swap', '.deleted'];

/** `<base><kind><suffix>`: segment file names from segmentFiles.ts, with a cleaner suffix. */
function swapFilePath(dir: string, base: bigint, kind: SwapFileKind, suffix: SegmentFileSuffix): string {
  if (kind === TXN_INDEX_EXT) return path.join(dir, txnIndexFileName(base) + suffix);
  return segmentPath(dir, base, kind, suffix);
}

/** Inverse of `swapFilePath` for the cleaner's suffixes; null for any other name. */
function parseSwapFileName(name: string): { baseOffset: bigint; kind: SwapFileKind; suffix: CleanerFileSuffix } | null {
  const seg = parseCleanerFileName(name);
  if (seg !== null) return { baseOffset: seg.baseOffset, kind: seg.ext, suffix: seg.suffix };
  for (const suffix of CLEANER_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const base = parseTxnIndexFileName(name.slice(0, name.length - suffix.length));
    return base === null ? null : { baseOffset: base, kind: TXN_INDEX_EXT, suffix };
  }
  return null;
}

export interface SwapStep {
  /** What the step does, for test names and logs. */
  name: string;
  run(): void;
}

/**
 * The steps of one swap in order: `oldBaseOffsets` (the segments replaced, oldest first, the
 * first of them equal to `newBaseOffset`) by the `.cleaned` files of `newBaseOffset`. Exposed as
 * steps so tests can stop after any of them and check recovery.
 */
export function swapSteps(dir: string, oldBaseOffsets: readonly bigint[], newBaseOffset: bigint): SwapStep[] {
  const steps: SwapStep[] = [];
  const move = (base: bigint, kind: SwapFileKind, from: SegmentFileSuffix, to: SegmentFileSuffix, optional: boolean): void => {
    const src = swapFilePath(dir, base, kind, from);
    const dst = swapFilePath(dir, base, kind, to);
    steps.push({ name: `rename ${path.basename(src)} → ${path.basename(dst)}`, run: () => rename(src, dst, optional) });
  };
  const sync = (what: string): void => {
    steps.push({ name: `fsync directory (${what})`, run: () => syncDir(dir) });
  };
  // Index files of a live segment normally exist, but a missing one is rebuilt on open, so its
  // absence must not stop a swap; most segments have no .txnindex (no aborted transaction), and
  // a cleaned segment has one only when it keeps an aborted transaction's marker.
  const oldKinds: readonly SwapFileKind[] = [...SEGMENT_FILE_EXTS, TXN_INDEX_EXT];
  for (const base of oldBaseOffsets) {
    for (const kind of oldKinds) move(base, kind, '', '.deleted', kind !== '.log');
  }
  sync('replaced segments renamed');
  for (const kind of SWAP_FILE_KINDS) move(newBaseOffset, kind, '.cleaned', '.swap', kind === TXN_INDEX_EXT);
  sync('commit');
  for (const base of oldBaseOffsets) {
    for (const kind of oldKinds) {
      const file = swapFilePath(dir, base, kind, '.deleted');
      steps.push({ name: `remove ${path.basename(file)}`, run: () => remove(file) });
    }
  }
  for (const kind of SWAP_FILE_KINDS) move(newBaseOffset, kind, '.swap', '', kind === TXN_INDEX_EXT);
  sync('swap finished');
  return steps;
}

/** Runs every step of a swap (see the module comment). Throws STORAGE_IO. */
export function swapInCleanedSegment(dir: string, oldBaseOffsets: readonly bigint[], newBaseOffset: bigint): void {
  for (const s of swapSteps(dir, oldBaseOffsets, newBaseOffset)) s.run();
}

/** Removes a cleaned segment's `.cleaned` files, its `.txnindex.cleaned` included (an abandoned clean). Never throws. */
export function removeCleanedFiles(dir: string, baseOffset: bigint): void {
  for (const kind of SWAP_FILE_KINDS) {
    try {
      fs.rmSync(swapFilePath(dir, baseOffset, kind, '.cleaned'), { force: true });
    } catch {
      // the directory may be gone (topic deleted); nothing to clean up then
    }
  }
}

/**
 * Brings a partition directory to a state without cleaner files, completing or undoing an
 * interrupted swap as the module comment says. Returns whether anything was done.
 */
export function recoverCleanerFiles(dir: string, names: readonly string[], logger: (msg: string) => void): boolean {
  const files = names.flatMap((name) => {
    const parsed = parseSwapFileName(name);
    return parsed === null ? [] : [{ name, ...parsed }];
  });
  if (files.length === 0) return false;
  const committed = new Set(files.filter((f) => f.suffix === '.swap' && f.kind === '.log').map((f) => f.baseOffset));
  const full = (name: string): string => path.join(dir, name);
  const liveName = (f: { baseOffset: bigint; kind: SwapFileKind }): string => swapFilePath(dir, f.baseOffset, f.kind, '');

  for (const f of files.filter((x) => x.suffix === '.cleaned')) remove(full(f.name));
  if (committed.size > 0) {
    logger(`completing an interrupted cleaner swap of segment(s) ${[...committed].join(', ')}`);
    for (const f of files.filter((x) => x.suffix === '.deleted')) remove(full(f.name));
    // Indexes before the log: the .log.swap is what says "committed" until the very end.
    const swaps = files.filter((x) => x.suffix === '.swap').sort((a, b) => (a.kind === '.log' ? 1 : 0) - (b.kind === '.log' ? 1 : 0));
    for (const f of swaps) {
      if (committed.has(f.baseOffset)) rename(full(f.name), liveName(f), false);
      else remove(full(f.name));
    }
  } else {
    const deleted = files.filter((x) => x.suffix === '.deleted');
    if (deleted.length > 0) logger(`undoing an interrupted cleaner swap: restoring ${deleted.length} replaced segment file(s)`);
    for (const f of files.filter((x) => x.suffix === '.swap')) remove(full(f.name));
    for (const f of deleted) {
      const target = liveName(f);
      if (fs.existsSync(target)) {
        // Not a state the protocol produces; the live file wins and the stray copy goes.
        logger(`both ${path.basename(target)} and ${f.name} exist: keeping ${path.basename(target)}`);
        remove(full(f.name));
      } else {
        rename(full(f.name), target, false);
      }
    }
  }
  syncDir(dir);
  return true;
}

function rename(src: string, dst: string, optional: boolean): void {
  try {
    fs.renameSync(src, dst);
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StrataError('STORAGE_IO', `rename ${src} to ${path.basename(dst)}: ${(e as Error).message}`, { cause: e });
  }
}

function remove(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch (e) {
    throw new StrataError('STORAGE_IO', `remove ${file}: ${(e as Error).message}`, { cause: e });
  }
}
