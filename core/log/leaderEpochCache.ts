import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataError } from '../common/errors';
import { writeAtomically } from './checkpointFiles';

/**
 * Which leader epoch wrote which offsets of a partition (Kafka's LeaderEpochFileCache): one entry
 * per epoch, the offset of the first batch that epoch appended, ascending in both. It answers
 * OffsetForLeaderEpoch ("where does epoch E end in your log?"), which a replica that rejoins uses
 * to truncate to where its log agrees with the leader's (KIP-101/KIP-279), and a consumer uses to
 * check its position after a leader change.
 *
 *   entries:  (0, 0)  (3, 1200)  (4, 5000)        log end 7300
 *   endOffsetFor(0) = (0, 1200)      endOffsetFor(2) = (0, 1200)   (2 never led: the epoch below it)
 *   endOffsetFor(3) = (3, 5000)      endOffsetFor(4) = (4, 7300)   (the latest: the log end)
 *   endOffsetFor(9) = (-1, -1)       (unknown: newer than anything here)
 *
 * The invariant: once an epoch has a start offset it keeps it, and entries stay monotonic in both
 * fields; an assignment that would break that (a new leader whose log was truncated below an
 * older entry) first removes the entries it contradicts, as Kafka does.
 *
 * Persisted beside the segments in `leader-epoch-checkpoint`, Kafka's format (version 0, a count,
 * then `epoch startOffset` lines), rewritten whole (temp file, fsync, rename, fsync of the dir)
 * whenever it changes: before the first batch of a new epoch is appended, and on truncation. It
 * is therefore never behind the log; entries past the log end after a crash are dropped on open.
 */
export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint';
const CHECKPOINT_VERSION = 0;

/** Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET. */
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1n;

export interface EpochEntry {
  readonly epoch: number;
  readonly startOffset: bigint;
}

export class LeaderEpochCache {
  private list: EpochEntry[];

  private constructor(
    private readonly dir: string,
    entries: EpochEntry[],
    private readonly logger: (msg: string) => void,
  ) {
    this.list = entries;
  }

  /** An empty cache for `dir` (nothing written until the first assignment). */
  static empty(dir: string, logger: (msg: string) => void = () => undefined): LeaderEpochCache {
    return new LeaderEpochCache(dir, [], logger);
  }

  /**
   * The cache as checkpointed in `dir`, or null when there is no checkpoint (a log from before
   * leader epochs were kept: the caller rebuilds it from the batches) or it cannot be parsed
   * (logged; rebuilt likewise).
   */
  static load(dir: string, logger: (msg: string) => void = () => undefined): LeaderEpochCache | null {
    const file = path.join(dir, LEADER_EPOCH_CHECKPOINT_FILE);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new StrataError('STORAGE_IO', `read ${file}: ${(e as Error).message}`, { cause: e });
    }
    const entries = parseCheckpoint(text);
    if (typeof entries === 'string') {
      logger(`${file} is damaged (${entries}): rebuilding the leader epochs from the log`);
      return null;
    }
    return new LeaderEpochCache(dir, entries, logger);
  }

  get entries(): readonly EpochEntry[] {
    return this.list;
  }

  /** The newest epoch, or UNDEFINED_EPOCH when none has written. */
  get latestEpoch(): number {
    return this.list.length === 0 ? UNDEFINED_EPOCH : this.list[this.list.length - 1].epoch;
  }

  /** Where `epoch` started in this log, or null when it has no entry. */
  startOffsetOf(epoch: number): bigint | null {
    return this.list.find((e) => e.epoch === epoch)?.startOffset ?? null;
  }

  /**
   * Records that `epoch` wrote from `startOffset` on. A no-op for the latest epoch at or after its
   * start; otherwise entries with an epoch at or above it, or a start at or above its start,
   * are removed first (they contradict it), and the checkpoint is rewritten. Returns whether
   * anything changed.
   */
  assign(epoch: number, startOffset: bigint): boolean {
    if (!Number.isInteger(epoch) || epoch < 0 || startOffset < 0n) throw new RangeError(`invalid leader epoch entry (${epoch}, ${startOffset})`);
    const last = this.list[this.list.length - 1];
    if (last && last.epoch === epoch && startOffset >= last.startOffset) return false;
    const removed: EpochEntry[] = [];
    while (this.list.length > 0) {
      const e = this.list[this.list.length - 1];
      if (e.epoch < epoch && e.startOffset < startOffset) break;
      removed.push(this.list.pop()!);
    }
    if (removed.length > 1 || (removed.length === 1 && removed[0].startOffset !== startOffset)) {
      this.logger(`leader epoch ${epoch} from offset ${startOffset} replaces ${removed.map((e) => `(${e.epoch}, ${e.startOffset})`).join(' ')}`);
    }
    this.list.push({ epoch, startOffset });
    this.flush();
    return true;
  }

  /**
   * Where `requestedEpoch` ends in this log, with the epoch that answers (Kafka's endOffsetFor):
   * the start of the next newer epoch; the log end for the latest epoch; for an epoch that never
   * wrote here, the end of the newest epoch below it; UNDEFINED for an epoch newer than all.
   * `currentEpoch`: the leader's epoch, which counts from the log end if it has not written yet.
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: bigint, currentEpoch = UNDEFINED_EPOCH): { epoch: number; endOffset: bigint } {
    // A leader whose epoch has not written yet is treated as if it started at the log end (Kafka
    // assigns the epoch when the leader takes over; here its first batch does).
    const list = currentEpoch > this.latestEpoch ? [...this.list, { epoch: currentEpoch, startOffset: logEndOffset }] : this.list;
    const undefinedAnswer = { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (requestedEpoch === UNDEFINED_EPOCH || list.length === 0) return undefinedAnswer;
    if (requestedEpoch === list[list.length - 1].epoch) return { epoch: requestedEpoch, endOffset: logEndOffset };
    // The first entry with a newer epoch, and the one before it (the floor).
    const higher = list.findIndex((e) => e.epoch > requestedEpoch);
    if (higher < 0) return undefinedAnswer;
    if (higher === 0) return { epoch: requestedEpoch, endOffset: list[0].startOffset };
    return { epoch: list[higher - 1].epoch, endOffset: list[higher].startOffset };
  }

  /** The epoch that wrote `offset`, or UNDEFINED_EPOCH when it is below every entry. */
  epochForOffset(offset: bigint): number {
    let found = UNDEFINED_EPOCH;
    for (const e of this.list) {
      if (e.startOffset > offset) break;
      found = e.epoch;
    }
    return found;
  }

  /** The log was truncated to `endOffset`: entries starting at or past it go. */
  truncateFromEnd(endOffset: bigint): void {
    const keep = this.list.filter((e) => e.startOffset < endOffset);
    if (keep.length === this.list.length) return;
    this.list = keep;
    this.flush();
  }

  /**
   * The log now starts at `startOffset`: entries wholly below it go, and the one covering it
   * starts there (Kafka's truncateFromStart).
   */
  truncateFromStart(startOffset: bigint): void {
    let covering = -1;
    for (let i = 0; i < this.list.length && this.list[i].startOffset <= startOffset; i++) covering = i;
    if (covering < 0 || (covering === 0 && this.list[0].startOffset === startOffset)) return;
    this.list = [{ epoch: this.list[covering].epoch, startOffset }, ...this.list.slice(covering + 1)];
    this.flush();
  }

  /** Forgets every entry (the log was emptied and restarts elsewhere). */
  clear(): void {
    if (this.list.length === 0) return;
    this.list = [];
    this.flush();
  }

  private flush(): void {
    const lines = [String(CHECKPOINT_VERSION), String(this.list.length), ...this.list.map((e) => `${e.epoch} ${e.startOffset}`)];
    writeAtomically(this.dir, LEADER_EPOCH_CHECKPOINT_FILE, lines.join('\n') + '\n');
  }
}

/** The entries of a checkpoint file, or why it cannot be read. */
export function parseCheckpoint(text: string): EpochEntry[] | string {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length < 2) return 'shorter than its header';
  if (lines[0].trim() !== String(CHECKPOINT_VERSION)) return `unknown version ${JSON.stringify(lines[0])}`;
  const count = Number(lines[1].trim());
  if (!Number.isSafeInteger(count) || count < 0) return `bad entry count ${JSON.stringify(lines[1])}`;
  if (lines.length - 2 !== count) return `${count} entries expected, ${lines.length - 2} found`;
  const entries: EpochEntry[] = [];
  for (const line of lines.slice(2)) {
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) return `bad entry ${JSON.stringify(line)}`;
    const entry = { epoch: Number(m[1]), startOffset: BigInt(m[2]) };
    const prev = entries[entries.length - 1];
    if (!Number.isSafeInteger(entry.epoch) || entry.epoch > 0x7fffffff) return `bad epoch in ${JSON.stringify(line)}`;
    if (prev && (entry.epoch <= prev.epoch || entry.startOffset <= prev.startOffset)) return `entries not ascending at ${JSON.stringify(line)}`;
    entries.push(entry);
  }
  return entries;
}
