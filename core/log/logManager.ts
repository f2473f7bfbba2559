import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../common/logger';
import { DiskSpaceMonitor, isOutOfSpace } from './diskSpace';
import { FileCache, UNBOUNDED_FILE_CACHE } from './fileCache';
import type { LogCleaner } from './logCleaner';
import type { CompactionConfig } from './logConfig';
import { PartitionLog, type LogConfig } from './partitionLog';

/** Kafka's partition directory name: `<topic>-<partition>`. */
export function partitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/** Kafka's suffix of a directory scheduled for deletion (LogFileUtils.DELETE_DIR_SUFFIX). */
const DELETE_DIR_SUFFIX = '-delete';

/** Longest file name on common file systems (ext4, xfs, tmpfs), in bytes; topic names are ASCII. */
const MAX_FILE_NAME_BYTES = 255;

/**
 * Where a deleted partition's directory goes before removal: `<topic>-<partition>.<topicId>-delete`,
 * the topic cut short so that the whole stays within 255 bytes (Kafka's
 * LocalLog.logDirNameWithSuffixCappedLength, with the topic id as the unique part).
 */
export function deleteDirName(topic: string, partition: number, topicId: string): string {
  const suffix = `-${partition}.${topicId}${DELETE_DIR_SUFFIX}`;
  return topic.slice(0, Math.max(0, MAX_FILE_NAME_BYTES - suffix.length)) + suffix;
}

/** Written into each partition directory, so a directory left by a deleted topic of the same name is recognised. */
const PARTITION_METADATA = 'partition.metadata';

/** What housekeeping needs of one partition's log and its topic's policies. */
export interface MaintainedLog {
  /** `<topic>-<partition>`, for log lines. */
  readonly label: string;
  readonly log: PartitionLog;
  readonly policy: LogPolicy;
}

export interface LogPolicy {
  /** cleanup.policy includes delete. */
  deletes: boolean;
  /** cleanup.policy includes compact. */
  compacts: boolean;
  /** remote.storage.enable: the tier manager applies retention across both tiers instead. */
  remoteStorage: boolean;
  compaction: CompactionConfig;
}

export interface LogManagerOptions {
  /** log.retention.check.interval.ms */
  retentionCheckIntervalMs: number;
  /** log.cleaner.backoff.ms */
  cleanerBackoffMs: number;
  /** producer.id.expiration.ms: idle producers' sequence state is dropped after this long. */
  producerIdExpirationMs?: number;
  /** producer.id.expiration.check.interval.ms */
  producerIdExpirationCheckIntervalMs?: number;
  /** The log cleaner (compaction), or null when log.cleaner.enable=false. */
  cleaner: LogCleaner | null;
  logger: Logger;
  /** log.dir.free.space.warn.bytes: housekeeping warns while the disk has less free; 0 = never. Default 0. */
  freeSpaceWarnBytes?: number;
  /** log.max.open.files: segment file descriptors open at once (least recently used closed first). Default unbounded. */
  maxOpenFiles?: number;
}

/**
 * The partition directories under log.dirs and the time-driven work on the logs in them
 * (Kafka's LogManager): opening a partition's log (recovering it), dropping a deleted topic's
 * directories, and the periodic flush.ms / segment.ms, retention and cleaner passes. Which logs
 * exist is the partition manager's business; housekeeping is handed them on each tick.
 */
export class LogManager {
  private nextRetentionCheck = 0;
  private nextCleanerCheck = 0;
  private nextProducerExpiryCheck = 0;
  /** Free space of the disk holding the logs, checked on every housekeeping pass. */
  readonly diskSpace: DiskSpaceMonitor;
  /** Housekeeping failures for want of space, logged at most once a minute (a full disk lasts). */
  private outOfSpace = { count: 0, loggedAt: -Infinity };
  /** Every log's segment and index file descriptors, bounded by log.max.open.files. */
  readonly files: FileCache;

  constructor(
    readonly logsDir: string,
    private readonly opts: LogManagerOptions,
  ) {
    fs.mkdirSync(logsDir, { recursive: true });
    this.diskSpace = new DiskSpaceMonitor({ dir: logsDir, warnBytes: opts.freeSpaceWarnBytes ?? 0, logger: opts.logger });
    this.files = opts.maxOpenFiles === undefined ? UNBOUNDED_FILE_CACHE : new FileCache(opts.maxOpenFiles);
  }

  get cleaner(): LogCleaner | null {
    return this.opts.cleaner;
  }

  /**
   * Opens (recovering) the log of `topic`-`partition`. A directory left by an earlier topic of
   * the same name (its partition.metadata names another topic id) is removed first.
   */
  openLog(topic: string, topicId: string, partition: number, config: LogConfig, opts: { replicated?: boolean } = {}): PartitionLog {
    const label = partitionDirName(topic, partition);
    const dir = path.join(this.logsDir, label);
    const marker = path.join(dir, PARTITION_METADATA);
    const owner = readPartitionMetadata(marker);
    if (owner !== null && owner !== topicId) {
      this.opts.logger.warn(`removing ${dir}: it belongs to topic id ${owner}, not ${topicId}`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const log = PartitionLog.open(dir, config, {
      logger: (m: string) => this.opts.logger.info(`${label}: ${m}`),
      producerIdExpirationMs: this.opts.producerIdExpirationMs,
      files: this.files,
      replicated: opts.replicated,
      onOffline: (reason) =>
        this.opts.logger.error(
          `${label}: log offline: ${reason}. Appends to it are refused (KAFKA_STORAGE_ERROR) until the broker restarts; reads go on. Check the disk (dmesg), then restart: recovery checks the log`,
        ),
    });
    if (owner !== topicId) fs.writeFileSync(marker, `version: 0\ntopic_id: ${topicId}\n`);
    return log;
  }

  /**
   * Deleted partitions' directories still on disk because removing them failed: the path to
   * remove, and the topic id a `<topic>-<partition>` directory (whose rename failed) must still
   * carry; null for a renamed `…-delete` directory. Retried by retryDeletions.
   */
  private readonly undeleted = new Map<string, string | null>();

  /**
   * Closes a deleted partition's log and removes its directory. It is renamed first to
   * `<topic>-<partition>.<topicId>-delete` (Kafka's form, the topic cut short so that the name
   * fits in 255 bytes whatever the topic's length), so a re-created topic of the same name never
   * sees it, and a removal cut short by a crash is finished at the next start. Nothing here
   * throws: a failure is logged, and retried by retryDeletions (the broker calls it with backoff).
   */
  dropLog(log: PartitionLog, topic: string, partition: number, topicId: string): void {
    const label = partitionDirName(topic, partition);
    const dir = path.join(this.logsDir, label);
    try {
      log.close();
    } catch (e) {
      this.opts.logger.warn(`${label}: closing the log of a deleted partition: ${(e as Error).message}`);
    }
    void this.removeDeleted(dir, topicId, false);
  }

  /** How many deleted partitions' directories are still on disk after a failed removal. */
  get pendingDeletions(): number {
    return this.undeleted.size;
  }

  /** Retries every failed removal of a deleted partition's directory; returns how many are still left. */
  async retryDeletions(): Promise<number> {
    const pending = [...this.undeleted];
    await Promise.all(pending.map(([dir, topicId]) => this.removeDeleted(dir, topicId, true)));
    return this.undeleted.size;
  }

  /**
   * Renames (when `topicId` is given: `dir` is still `<topic>-<partition>`) and removes one
   * deleted partition's directory, forgetting it once it is gone; logs a failure and keeps it
   * for the next retry. A `<topic>-<partition>` directory whose partition.metadata no longer
   * names `topicId` belongs to a topic re-created since (which removed the old data itself).
   */
  private removeDeleted(dir: string, topicId: string | null, retry: boolean): Promise<void> {
    let doomed = dir;
    if (topicId !== null) {
      if (retry && readPartitionMetadata(path.join(dir, PARTITION_METADATA)) !== topicId) {
        this.undeleted.delete(dir);
        return Promise.resolve();
      }
      const m = /^(.*)-(\d+)$/.exec(path.basename(dir))!;
      doomed = path.join(this.logsDir, deleteDirName(m[1], Number(m[2]), topicId));
      try {
        fs.renameSync(dir, doomed);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(dir)) {
          this.undeleted.delete(dir); // nothing on disk
        } else {
          this.undeleted.set(dir, topicId);
          this.opts.logger.warn(`deleting ${dir}: renaming it to ${path.basename(doomed)} failed (retried later): ${(e as Error).message}`);
        }
        return Promise.resolve();
      }
      this.undeleted.delete(dir);
    }
    return fs.promises.rm(doomed, { recursive: true, force: true }).then(
      () => {
        if (this.undeleted.delete(doomed) || retry) this.opts.logger.info(`removed ${doomed}, left by a deleted partition`);
      },
      (e: Error) => {
        this.undeleted.set(doomed, null);
        this.opts.logger.warn(`removing ${doomed}, left by a deleted partition, failed (retried later): ${e.message}`);
      },
    );
  }

  /**
   * At start, once every known partition is open: removes leftovers of deletions (a failure is
   * logged and retried later, the broker starts), warns of unknown directories.
   */
  removeStaleDirs(isKnown: (topic: string, partition: number) => boolean): void {
    for (const entry of fs.readdirSync(this.logsDir)) {
      const full = path.join(this.logsDir, entry);
      if (entry.endsWith(DELETE_DIR_SUFFIX)) {
        try {
          fs.rmSync(full, { recursive: true, force: true });
        } catch (e) {
          this.undeleted.set(full, null);
          this.opts.logger.warn(`removing ${full}, left by a deleted partition, failed (retried later): ${(e as Error).message}`);
        }
        continue;
      }
      const m = /^(.+)-(\d+)$/.exec(entry);
      if (!m || !isKnown(m[1], Number(m[2]))) {
        this.opts.logger.warn(`ignoring ${full}: no such topic partition in the metadata store`);
      }
    }
  }

  /**
   * One housekeeping pass (the broker calls it every second): flush.ms and segment.ms on every
   * log; every log.retention.check.interval.ms, delete retention on local-only topics; every
   * log.cleaner.backoff.ms (or at once after a round that cleaned something), a cleaner round
   * for compacted topics, on the cleaner's worker thread; every
   * producer.id.expiration.check.interval.ms, idle producers' state is dropped.
   */
  maintain(logs: Iterable<MaintainedLog>, now: number = Date.now()): void {
    this.diskSpace.check(now);
    const checkRetention = now >= this.nextRetentionCheck;
    if (checkRetention) this.nextRetentionCheck = now + this.opts.retentionCheckIntervalMs;
    const cleaner = this.opts.cleaner;
    const checkCleaner = cleaner !== null && now >= this.nextCleanerCheck;
    if (checkCleaner) this.nextCleanerCheck = now + this.opts.cleanerBackoffMs;
    const expireProducers = now >= this.nextProducerExpiryCheck;
    if (expireProducers) this.nextProducerExpiryCheck = now + (this.opts.producerIdExpirationCheckIntervalMs ?? 600_000);
    for (const { label, log, policy } of logs) {
      if (log.isClosed) continue;
      try {
        log.maybeFlushOrRoll(now);
        if (expireProducers) {
          const expired = log.removeExpiredProducers(now);
          if (expired > 0) this.opts.logger.info(`${label}: forgot ${expired} producer id(s) idle past producer.id.expiration.ms`);
        }
        // Tiered topics: the tier manager applies retention across both tiers.
        if (checkRetention && policy.deletes && !policy.remoteStorage) {
          const deleted = log.deleteRetentionBreachedSegments(now);
          if (deleted > 0) this.opts.logger.info(`${label}: deleted ${deleted} segment(s) past retention; log start offset ${log.logStartOffset}`);
        }
        if (checkCleaner && policy.compacts) {
          // Runs on a worker thread; never rejects (failures are logged by the cleaner). As in
          // Kafka, the cleaner backs off only when nothing was due: after a round, the next
          // tick looks again (writes that arrived during a long round are cleaned without
          // waiting another log.cleaner.backoff.ms).
          void cleaner.cleanIfNeeded(log, policy.compaction).then((r) => {
            if (r?.outcome === 'cleaned') this.nextCleanerCheck = 0;
          });
        }
      } catch (e) {
        if (!isOutOfSpace(e)) {
          this.opts.logger.warn(`housekeeping ${label}: ${(e as Error).message}`);
        } else if (now - this.outOfSpace.loggedAt >= 60_000) {
          const more = this.outOfSpace.count > 0 ? ` (and ${this.outOfSpace.count} more for want of space since the last such line)` : '';
          this.opts.logger.warn(`housekeeping ${label}: ${(e as Error).message}${more}; retried every pass until the disk has room`);
          this.outOfSpace = { count: 0, loggedAt: now };
        } else {
          this.outOfSpace.count++;
        }
      }
    }
  }

  /** Stops the cleaner (its in-flight round is abandoned safely). */
  async close(): Promise<void> {
    await this.opts.cleaner?.close();
  }
}

function readPartitionMetadata(file: string): string | null {
  try {
    const m = /topic_id:\s*(\S+)/.exec(fs.readFileSync(file, 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}
