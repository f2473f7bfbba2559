import { ErrorCode } from '../protocol/errorCodes';
import { LATEST_TIMESTAMP, StrataClient } from '../client/client';
import { isKafkaError } from '../client/errors';
import type { ProduceRecord } from '../client/records';
import { TransactionalProducer } from '../client/transactionalProducer';
import { StrataError, isStrataError } from '../common/errors';
import { type ClusterConnection, type MirrorConfig, validateMirrorConfig } from './config';
import { MirrorPartitionsError, PoisonRecordError } from './errors';
import { type MirrorRecord, type ParsedMirrorEvent, type PartitionBatch, parseMirrorEvent } from './event';
import { mirrorStateGroup, mirrorTransactionalId, offsetSyncsTopic, targetTopicName } from './naming';
import { encodeOffsetSync, offsetRuns } from './offsetSyncs';
import { TargetTopics, describeSourceTopic } from './targetTopics';

/**
 * The mirror's business logic, with no Lambda in it: `mirrorParsedEvent` takes one event's
 * records (grouped by source partition) and produces them to the target cluster, keeping key,
 * value, headers, timestamp and per-partition order, partition p to partition p. Both the
 * Lambda handler (functions/mirror/handler.ts) and `strata mirror` (core/cli/mirror.ts) call it.
 *
 * Normal mode (MirrorMaker 2's model), per source partition of the event, one transaction:
 *
 *   initTransactions   transactional.id strata-mirror.<alias>.<topic>.<p> (once per container):
 *                      fences a zombie invocation of the same partition and aborts its open
 *                      transaction
 *   read state         OffsetFetch(requireStable) of group strata-mirror.<alias> for
 *                      (<target topic>, p) = the next source offset still to mirror; records
 *                      below it are skipped — this is why a retried event adds nothing
 *   produce            the remaining records to <target topic>-p, in batches of at most
 *                      maxBatchBytes, then one offset sync per batch to the syncs topic
 *                      (offsetSyncs.ts: the source offsets' runs and the target base offset)
 *   state              sendOffsetsToTransaction(group, (<target topic>, p) → last offset + 1)
 *   commit             records, syncs and state become visible together, or (abort, crash,
 *                      fencing) none of them
 *
 * Offset-preserving mode (Strata targets): the target topic is a read-only mirror
 * (`mirror.source.cluster=<alias>`) and records are appended at their source offsets
 * (MirrorAppend); the target's log end is the state: records below it are skipped by the
 * broker, so a retry adds nothing, and no syncs are needed since offsets are the same.
 *
 * A failure in one partition does not stop the others; the batch then fails as a whole
 * (MirrorPartitionsError) and its retry skips what was committed.
 */

export interface PartitionOutcome {
  /** Source topic and partition. */
  topic: string;
  partition: number;
  targetTopic: string;
  /** Records of the event for this partition. */
  recordsIn: number;
  /** Records written to the target by this call. */
  recordsOut: number;
  /** Records skipped as mirrored by an earlier (retried or overlapping) call. */
  alreadyMirrored: number;
  /** Source offsets of the first and last record in. */
  firstOffset?: bigint;
  lastOffset?: bigint;
}

export interface MirrorSummary {
  partitions: PartitionOutcome[];
}

export interface MirrorDeps {
  /** The target cluster's client; default: one built from config.target (closed by close()). */
  target?: StrataClient;
  /** A client of the source cluster (the CLI has one); default: built from config.source or the event's servers. */
  source?: StrataClient;
  /** Structured log lines (topic creation and the like). */
  log?: (fields: Record<string, unknown>) => void;
}

const DEFAULT_MAX_BATCH_BYTES = 900 * 1024;
const DEFAULT_CONCURRENCY = 4;

export class Mirror {
  readonly config: MirrorConfig;
  readonly target: StrataClient;
  private readonly ownsTarget: boolean;
  private readonly givenSource: StrataClient | undefined;
  private readonly sources = new Map<string, StrataClient>();
  private readonly producers = new Map<string, TransactionalProducer>();
  private readonly topics: TargetTopics;
  private readonly log: (fields: Record<string, unknown>) => void;
  private syncsTopicReady = false;
  /** Source servers of the batch being mirrored (the event's), for creating target topics. */
  private eventServers: string[] = [];

  constructor(config: MirrorConfig, deps: MirrorDeps = {}) {
    validateMirrorConfig(config);
    this.config = config;
    this.ownsTarget = deps.target === undefined;
    this.target = deps.target ?? clientFor(config.target, 'strata-mirror');
    this.givenSource = deps.source;
    this.log = deps.log ?? (() => undefined);
    this.topics = new TargetTopics(this.target, (topic) => describeSourceTopic(this.sourceClient(), topic), this.log);
  }

  get alias(): string {
    return this.config.sourceAlias;
  }

  /** The mirror's target topic for a source topic. */
  targetTopic(sourceTopic: string): string {
    return targetTopicName(sourceTopic, this.alias, this.config.naming);
  }

  /** Parses and mirrors a raw Lambda event (parseMirrorEvent, then mirrorParsedEvent). */
  async mirrorEvent(raw: unknown): Promise<MirrorSummary> {
    return this.mirrorParsedEvent(parseMirrorEvent(raw));
  }

  /**
   * Mirrors a parsed event. Throws MirrorPartitionsError when a partition failed (the others
   * were mirrored), else PoisonRecordError when the event had poison records (everything
   * before them was mirrored).
   */
  async mirrorParsedEvent(event: ParsedMirrorEvent): Promise<MirrorSummary> {
    const summary = await this.mirrorBatches(event.batches, event.sourceBootstrapServers);
    if (event.poison.length > 0) throw new PoisonRecordError(event.poison);
    return summary;
  }

  /** Mirrors source partitions' records; `sourceServers` are the event's (used when config.source names none). */
  async mirrorBatches(batches: readonly PartitionBatch[], sourceServers: readonly string[] = []): Promise<MirrorSummary> {
    this.eventServers = [...sourceServers];
    const work = batches.filter((b) => b.records.length > 0);
    if (work.length === 0) return { partitions: [] };
    if (!this.config.offsetPreserving) await this.ensureSyncsTopic();

    const failures: Array<{ topic: string; partition: number; error: Error }> = [];
    // Target topics first (one look per topic, with the highest partition in the batch).
    const needed = new Map<string, number>();
    for (const b of work) needed.set(b.topic, Math.max(needed.get(b.topic) ?? 0, b.partition + 1));
    const ready = new Set<string>();
    for (const [topic, partitionsNeeded] of needed) {
      try {
        const targetTopic = this.targetTopic(topic);
        await this.topics.ensure({ sourceTopic: topic, targetTopic, partitionsNeeded, mirrorOf: this.config.offsetPreserving ? this.alias : undefined });
        ready.add(topic);
      } catch (err) {
        for (const b of work) if (b.topic === topic) failures.push({ topic, partition: b.partition, error: err as Error });
      }
    }

    const outcomes: PartitionOutcome[] = [];
    await forEachLimit(
      work.filter((b) => ready.has(b.topic)),
      this.config.concurrency ?? DEFAULT_CONCURRENCY,
      async (b) => {
        try {
          outcomes.push(this.config.offsetPreserving ? await this.appendPartition(b) : await this.mirrorPartition(b));
        } catch (err) {
          this.topics.forget(this.targetTopic(b.topic));
          failures.push({ topic: b.topic, partition: b.partition, error: err as Error });
        }
      },
    );
    if (failures.length > 0) throw new MirrorPartitionsError(failures);
    outcomes.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    return { partitions: outcomes };
  }

  /**
   * Where mirroring of a source partition resumes: the next source offset not mirrored yet
   * (normal mode: the state group's offset; offset-preserving: the target's log end), or null
   * when nothing was mirrored (the target topic or the state does not exist).
   */
  async resumeOffset(sourceTopic: string, partition: number): Promise<bigint | null> {
    const targetTopic = this.targetTopic(sourceTopic);
    if (!this.config.offsetPreserving) return this.stateOffset(targetTopic, partition);
    try {
      const end = (await this.target.listOffsets(targetTopic, partition, LATEST_TIMESTAMP)).offset;
      return end > 0n ? end : null;
    } catch (err) {
      if (isKafkaError(err, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) return null;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.producers.clear();
    const clients = [...this.sources.values()];
    this.sources.clear();
    if (this.ownsTarget) clients.push(this.target);
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }

  // ---------------------------------------------------------------- normal mode

  /**
   * A producer kept from an earlier invocation may have been fenced since (another container
   * took the partition over): then the partition is mirrored again, once, with a new producer,
   * which fences the other one in turn. Safe for the same reason a retry is: the state is read
   * after initTransactions.
   */
  private async mirrorPartition(b: PartitionBatch): Promise<PartitionOutcome> {
    const key = `${b.partition}:${b.topic}`;
    const kept = this.producers.get(key);
    try {
      return await this.mirrorPartitionOnce(b, key);
    } catch (err) {
      if (kept === undefined || !isFenced(err)) throw err;
      this.log({ level: 'info', msg: 'producer fenced by another mirror instance; taking the partition back', topic: b.topic, partition: b.partition });
      return this.mirrorPartitionOnce(b, key);
    }
  }

  private async mirrorPartitionOnce(b: PartitionBatch, key: string): Promise<PartitionOutcome> {
    const targetTopic = this.targetTopic(b.topic);
    const outcome = newOutcome(b, targetTopic);
    let producer = this.producers.get(key);
    if (!producer) {
      producer = new TransactionalProducer(this.target, {
        transactionalId: mirrorTransactionalId(this.alias, b.topic, b.partition),
        transactionTimeoutMs: this.config.transactionTimeoutMs,
      });
      await producer.initTransactions();
      this.producers.set(key, producer);
    }
    try {
      // After initTransactions: no zombie transaction of this partition can still commit state.
      const next = await this.stateOffset(targetTopic, b.partition);
      const todo = next === null ? b.records : b.records.filter((r) => r.offset >= next);
      outcome.alreadyMirrored = b.records.length - todo.length;
      if (todo.length === 0) return outcome;

      producer.beginTransaction();
      const syncs: ProduceRecord[] = [];
      for (const chunk of chunkRecords(todo, this.config.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES)) {
        const { baseOffset } = await producer.send(targetTopic, b.partition, chunk.map(toProduceRecord));
        syncs.push(encodeOffsetSync({ topic: b.topic, partition: b.partition, sourceOffsets: offsetRuns(chunk.map((r) => r.offset)), targetOffset: baseOffset }));
      }
      await producer.send(offsetSyncsTopic(this.alias), 0, syncs);
      const last = todo[todo.length - 1].offset;
      await producer.sendOffsetsToTransaction(mirrorStateGroup(this.alias), [{ topic: targetTopic, partition: b.partition, offset: last + 1n }]);
      await producer.commitTransaction();
      outcome.recordsOut = todo.length;
      return outcome;
    } catch (err) {
      // Whatever state the transaction is in, the next initTransactions of this id aborts it.
      this.producers.delete(key);
      await producer.abortTransaction().catch(() => undefined);
      throw err;
    }
  }

  /** The state group's committed offset for a target partition: the next source offset to mirror. */
  private async stateOffset(targetTopic: string, partition: number): Promise<bigint | null> {
    const [c] = await this.target.offsetFetch(mirrorStateGroup(this.alias), [{ topic: targetTopic, partition }], { requireStable: true });
    return c ? c.offset : null;
  }

  private async ensureSyncsTopic(): Promise<void> {
    if (this.syncsTopicReady) return;
    const name = offsetSyncsTopic(this.alias);
    const md = await this.target.metadata([name]);
    if (md.topicErrors.get(name) === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      try {
        // Kept forever by default: translation is exact only for positions whose syncs are still there (docs/deploy.md).
        await this.target.createTopics([{ name, numPartitions: 1, configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' } }]);
        this.log({ level: 'info', msg: 'created offset syncs topic', topic: name });
      } catch (e) {
        if (!isKafkaError(e, ErrorCode.TOPIC_ALREADY_EXISTS)) throw e;
      }
      await this.target.topicInfo(name, { refresh: true });
    }
    this.syncsTopicReady = true;
  }

  // ---------------------------------------------------------------- offset-preserving mode

  private async appendPartition(b: PartitionBatch): Promise<PartitionOutcome> {
    const targetTopic = this.targetTopic(b.topic);
    const outcome = newOutcome(b, targetTopic);
    for (const chunk of chunkRecords(b.records, this.config.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES)) {
      // The broker keeps the source's offset gaps and skips what is below its log end: a retried batch adds nothing.
      const records = chunk.map((r) => ({ ...toProduceRecord(r), offset: r.offset }));
      const { appended } = await this.target.appendMirrored(targetTopic, b.partition, records, { sourceCluster: this.alias, acks: -1 });
      outcome.recordsOut += appended;
    }
    outcome.alreadyMirrored = b.records.length - outcome.recordsOut;
    return outcome;
  }

  // ---------------------------------------------------------------- source

  private sourceClient(): StrataClient {
    if (this.givenSource) return this.givenSource;
    const servers = this.config.source.bootstrapServers.length > 0 ? this.config.source.bootstrapServers : this.eventServers;
    if (servers.length === 0) {
      throw new StrataError('CONFIG_INVALID', 'no source bootstrap servers: the event names none and MIRROR_SOURCE_BOOTSTRAP_SERVERS is not set');
    }
    const id = servers.join(',');
    let c = this.sources.get(id);
    if (!c) {
      c = clientFor({ ...this.config.source, bootstrapServers: servers }, 'strata-mirror-source');
      this.sources.set(id, c);
    }
    return c;
  }
}

/** A newer producer of the same transactional id exists: this one can never write again. */
function isFenced(err: unknown): boolean {
  if (isKafkaError(err)) return err.errorCode === ErrorCode.PRODUCER_FENCED || err.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH;
  return isStrataError(err, 'PRODUCER_FENCED') || isStrataError(err, 'INVALID_PRODUCER_EPOCH');
}

function clientFor(c: ClusterConnection, clientId: string): StrataClient {
  return new StrataClient({ bootstrapServers: c.bootstrapServers, security: c.security, clientId: c.clientId ?? clientId });
}

function newOutcome(b: PartitionBatch, targetTopic: string): PartitionOutcome {
  return {
    topic: b.topic,
    partition: b.partition,
    targetTopic,
    recordsIn: b.records.length,
    recordsOut: 0,
    alreadyMirrored: 0,
    firstOffset: b.records[0]?.offset,
    lastOffset: b.records[b.records.length - 1]?.offset,
  };
}

export function toProduceRecord(r: MirrorRecord): ProduceRecord {
  return { key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp };
}

/** A record's size in a batch, roughly (payload plus per-record framing). */
function estimatedSize(r: MirrorRecord): number {
  let n = 24 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const h of r.headers) n += 8 + Buffer.byteLength(h.key) + (h.value?.length ?? 0);
  return n;
}

/** Splits records into consecutive chunks of at most `maxBytes` (estimated); a larger record goes alone. */
export function chunkRecords<T extends MirrorRecord>(records: readonly T[], maxBytes: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const r of records) {
    const s = estimatedSize(r);
    if (current.length > 0 && size + s > maxBytes) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(r);
    size += s;
  }
  if (current.length > 0) out.push(current);
  return out;
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}
