import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KafkaConnection } from '../../core/client/connection';
import { StrataClient } from '../../core/client/client';
import { encodeRecordBatch } from '../../core/client/records';
import { ErrorCode, errorName } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { MetadataRequest } from '../../core/protocol/generated/MetadataRequest';
import type { MetadataResponse } from '../../core/protocol/generated/MetadataResponse';
import type { ProduceRequest } from '../../core/protocol/generated/ProduceRequest';
import type { ProduceResponse } from '../../core/protocol/generated/ProduceResponse';
import { ZERO_UUID } from '../../core/protocol/reader';
import type { ProducedOp, ReadOp } from './history';

/**
 * A produce load for fault runs that records, per record, what a Jepsen-style history needs
 * (test/helpers/history.ts) and what a fault test asserts on top: which broker each request went
 * to and answered, when it was sent and answered, and the answer.
 *
 * One loop per partition, one acks=all Produce request in flight at a time (so send order is
 * offset order), every record a unique value. Requests go over the load's own connections
 * (core/client/connection.ts) to the leader named by the last Metadata answer; any failure
 * (an error code, a timeout, a closed connection) drops that connection and asks Metadata
 * again, rotating over the bootstrap addresses, so a frozen or cut-off broker costs a loop one
 * request timeout, never more. Nothing is retried: a record whose request failed is recorded
 * unacked (it may or may not have landed) and the loop moves on to new values.
 */

export interface AckedOp extends ProducedOp {
  /** performance.now() when the request was written / answered (or failed). */
  sentAt: number;
  answeredAt?: number;
  /** Node id of the broker the request went to (the leader per the Metadata answer used). */
  to: number;
  /** The partition's error code in the answer; undefined when there was none (timeout, connection). */
  errorCode?: number;
  /** Why it is not acked: an error name or the client's error message. */
  failure?: string;
}

export interface AckedLoadOptions {
  topic: string;
  partitions: number[];
  /** 'host:port' addresses to ask Metadata (any broker). */
  bootstrap: string[];
  /** Producer name in the history and prefix of every value. Default 'load'. */
  producer?: string;
  /** Records per Produce request. Default 5. */
  recordsPerRequest?: number;
  /** The broker's acks=all wait (the request's timeoutMs). Default 1500. */
  produceTimeoutMs?: number;
  /** How long the load waits for an answer beyond produceTimeoutMs, and for Metadata and connecting. Default 2000. */
  requestTimeoutMs?: number;
  /** Pause after a failure before asking Metadata again. Default 50 ms. */
  backoffMs?: number;
}

export interface AckedLoad {
  /** Every record sent so far, in send order per partition. */
  readonly ops: readonly AckedOp[];
  /** Acked records matching `pred`. */
  count(pred: (op: AckedOp) => boolean): number;
  /** Failures by kind (error name or message), for reports. */
  failures(): Record<string, number>;
  /** Stops sending and waits for the loops to finish their request in flight; closes connections. */
  stop(): Promise<void>;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One address's connection, shared by the loops; a failure anywhere drops it for everyone. */
class Connections {
  private readonly pool = new Map<string, Promise<KafkaConnection>>();
  constructor(
    private readonly clientId: string,
    private readonly timeoutMs: number,
  ) {}

  get(host: string, port: number): Promise<KafkaConnection> {
    const key = `${host}:${port}`;
    let p = this.pool.get(key);
    if (!p) {
      p = KafkaConnection.connect({ host, port, clientId: this.clientId, connectTimeoutMs: this.timeoutMs, requestTimeoutMs: this.timeoutMs });
      this.pool.set(key, p);
      const mine = p;
      p.then(
        (c) => c.onClose(() => this.pool.get(key) === mine && this.pool.delete(key)),
        () => this.pool.get(key) === mine && this.pool.delete(key),
      );
    }
    return p;
  }

  drop(host: string, port: number): void {
    const key = `${host}:${port}`;
    const p = this.pool.get(key);
    this.pool.delete(key);
    void p?.then((c) => c.close(), () => undefined);
  }

  closeAll(): void {
    for (const p of this.pool.values()) void p.then((c) => c.close(), () => undefined);
    this.pool.clear();
  }
}

export interface PartitionView {
  partition: number;
  leader: number;
  leaderEpoch: number;
  isr: number[];
  errorCode: number;
}

export interface TopicView {
  brokers: Map<number, { host: string; port: number }>;
  partitions: PartitionView[];
}

/** One Metadata request for `topic` over `conn`. */
export async function metadataOver(conn: KafkaConnection, topic: string, timeoutMs: number): Promise<TopicView> {
  const request: MetadataRequest = {
    topics: [{ name: topic, topicId: ZERO_UUID }],
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  };
  const res = await conn.send<MetadataResponse>(ApiKey.Metadata, request, { timeoutMs });
  const brokers = new Map(res.brokers.map((b) => [b.nodeId, { host: b.host, port: b.port }]));
  const t = res.topics.find((x) => x.name === topic);
  const partitions = (t?.partitions ?? [])
    .map((p) => ({ partition: p.partitionIndex, leader: p.leaderId, leaderEpoch: p.leaderEpoch ?? -1, isr: [...p.isrNodes].sort(), errorCode: p.errorCode }))
    .sort((a, b) => a.partition - b.partition);
  return { brokers, partitions };
}

/**
 * What one broker (at `address`, 'host:port') says about a topic: a connection of its own,
 * closed after, every step bounded by `timeoutMs` (a frozen broker fails in that time).
 */
export async function topicViewOf(address: string, topic: string, timeoutMs = 3000): Promise<TopicView> {
  const [host, port] = splitAddress(address);
  const conn = await KafkaConnection.connect({ host, port, clientId: 'topic-view', connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
  try {
    return await metadataOver(conn, topic, timeoutMs);
  } finally {
    conn.close();
  }
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), Number(address.slice(i + 1))];
}

export interface ProduceAnswer {
  errorCode: number;
  baseOffset: bigint;
}

/** One Produce request (acks=all unless told) of `values` to one partition over `conn`; throws on a timeout or a closed connection. */
export async function produceOver(
  conn: KafkaConnection,
  topic: string,
  partition: number,
  values: string[],
  opts: { produceTimeoutMs: number; requestTimeoutMs: number; acks?: -1 | 1 },
): Promise<ProduceAnswer> {
  const request: ProduceRequest = {
    transactionalId: null,
    acks: opts.acks ?? -1,
    timeoutMs: opts.produceTimeoutMs,
    topicData: [{ name: topic, partitionData: [{ index: partition, records: encodeRecordBatch(values.map((value) => ({ value })), 'none') }] }],
  };
  const res = await conn.send<ProduceResponse>(ApiKey.Produce, request, { timeoutMs: opts.produceTimeoutMs + opts.requestTimeoutMs });
  const p = res.responses.find((t) => t.name === topic)?.partitionResponses.find((x) => x.index === partition);
  if (!p) throw new Error(`Produce answer without ${topic}-${partition}`);
  return { errorCode: p.errorCode, baseOffset: p.baseOffset };
}

/** Records the answer to a request of `ops` (sent together) into them. */
export function settleOps(ops: AckedOp[], outcome: { answer: ProduceAnswer } | { error: Error }, answeredAt: number): void {
  ops.forEach((op, i) => {
    op.answeredAt = answeredAt;
    if ('error' in outcome) {
      op.failure = outcome.error.message;
    } else if (outcome.answer.errorCode === ErrorCode.NONE) {
      op.acked = true;
      op.offset = outcome.answer.baseOffset + BigInt(i);
    } else {
      op.errorCode = outcome.answer.errorCode;
      op.failure = errorName(outcome.answer.errorCode);
    }
  });
}

export function startAckedLoad(opts: AckedLoadOptions): AckedLoad {
  const producer = opts.producer ?? 'load';
  const perRequest = opts.recordsPerRequest ?? 5;
  const produceTimeoutMs = opts.produceTimeoutMs ?? 1500;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
  const backoffMs = opts.backoffMs ?? 50;
  const conns = new Connections(`${producer}-client`, requestTimeoutMs);
  const ops: AckedOp[] = [];
  let stopped = false;
  let rotation = 0;

  /** The partition's leader per the first broker that answers Metadata, starting at the next address in turn. */
  async function leaderOf(partition: number): Promise<{ id: number; host: string; port: number } | null> {
    const n = opts.bootstrap.length;
    const start = rotation++ % n;
    for (let k = 0; k < n && !stopped; k++) {
      const [host, port] = splitAddress(opts.bootstrap[(start + k) % n]);
      try {
        const view = await metadataOver(await conns.get(host, port), opts.topic, requestTimeoutMs);
        const p = view.partitions.find((x) => x.partition === partition);
        const b = p && p.errorCode === ErrorCode.NONE && p.leader >= 0 ? view.brokers.get(p.leader) : undefined;
        if (p && b) return { id: p.leader, ...b };
      } catch {
        conns.drop(host, port);
      }
    }
    return null;
  }

  async function loop(partition: number): Promise<void> {
    let seq = 0;
    let leader: { id: number; host: string; port: number } | null = null;
    while (!stopped) {
      leader ??= await leaderOf(partition);
      if (leader === null) {
        await pause(backoffMs);
        continue;
      }
      const to = leader;
      let conn: KafkaConnection;
      try {
        conn = await conns.get(to.host, to.port);
      } catch {
        conns.drop(to.host, to.port);
        leader = null;
        await pause(backoffMs);
        continue;
      }
      const values = Array.from({ length: perRequest }, () => `${producer}-p${partition}-${seq++}`);
      const batch: AckedOp[] = values.map((value) => ({ producer, partition, value, acked: false, sentAt: performance.now(), to: to.id }));
      ops.push(...batch);
      let failed = false;
      try {
        const answer = await produceOver(conn, opts.topic, partition, values, { produceTimeoutMs, requestTimeoutMs });
        settleOps(batch, { answer }, performance.now());
        failed = answer.errorCode !== ErrorCode.NONE;
      } catch (e) {
        settleOps(batch, { error: e as Error }, performance.now());
        conns.drop(to.host, to.port);
        failed = true;
      }
      if (failed) {
        leader = null;
        await pause(backoffMs);
      }
    }
  }

  const loops = opts.partitions.map((p) => loop(p));
  return {
    ops,
    count: (pred) => ops.reduce((n, op) => n + (op.acked && pred(op) ? 1 : 0), 0),
    failures() {
      const out: Record<string, number> = {};
      for (const op of ops) {
        if (op.failure === undefined) continue;
        const kind = op.failure.replace(/\d+/g, 'N');
        out[kind] = (out[kind] ?? 0) + 1;
      }
      return out;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
      conns.closeAll();
    },
  };
}

/**
 * Reads every record of the partitions from the start to the high watermark (read_uncommitted),
 * as history reads of `consumer`. The caller makes sure nothing is being written.
 */
export async function readAll(bootstrap: string[], topic: string, partitions: number[], consumer = 'final-read'): Promise<ReadOp[]> {
  const client = new StrataClient({ bootstrapServers: bootstrap, clientId: consumer, requestTimeoutMs: 10_000 });
  const reads: ReadOp[] = [];
  try {
    for (const partition of partitions) {
      const end = (await client.listOffsets(topic, partition, -1n)).offset;
      let offset = (await client.listOffsets(topic, partition, -2n)).offset;
      while (offset < end) {
        const r = await client.fetch(topic, partition, offset, { maxBytes: 1024 * 1024, maxWaitMs: 0 });
        for (const rec of r.records) {
          if (rec.offset >= end) break;
          reads.push({ consumer, partition, offset: rec.offset, value: rec.value?.toString('utf8') ?? '', isolation: 'read_uncommitted' });
        }
        if (r.nextOffset <= offset) throw new Error(`${topic}-${partition}: no progress reading at ${offset} (high watermark ${end})`);
        offset = r.nextOffset;
      }
    }
  } finally {
    await client.close();
  }
  return reads;
}

/**
 * For a failed fault run: writes each process's output to `<tmpdir>/strata-<name>-<time>/<label>.log`
 * and returns the directory and the last `lines` lines of each, to append to the failure.
 */
export function saveOutputs(name: string, procs: Array<{ label: string; output: () => string }>, lines = 30): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strata-${name}-`));
  const tails = procs.map((p) => {
    const out = p.output();
    fs.writeFileSync(path.join(dir, `${p.label}.log`), out);
    return `--- ${p.label} (last ${lines} lines) ---\n${out.split('\n').slice(-lines - 1).join('\n')}`;
  });
  return `outputs saved in ${dir}\n${tails.join('\n')}`;
}
