/**
 * Fetch sessions (KIP-227), as Kafka's FetchManager runs them (core/.../FetchSession.scala),
 * with one simplification: a session lives on the connection that created it.
 *
 * A request's (session id, epoch) picks its context:
 *
 *   epoch  0 (INITIAL), any id   full fetch: the request lists every partition; the answer
 *                                names every one and opens a session (its id answered; the
 *                                client's next request is incremental, epoch 1). A session the
 *                                request names is closed first.
 *   epoch -1 (FINAL), any id     full fetch without a session ("sessionless"): the answer names
 *                                every partition, session id 0. Clients that do not use
 *                                sessions (kcat/librdkafka, kafkajs, kafka-python, Strata's
 *                                client) always send this, and v4-6 have no session fields (read
 *                                as 0/-1). A session the request names is closed.
 *   epoch n > 0, id s            incremental: the request lists only partitions added or changed
 *                                (new fetch offset, max bytes, leader epoch) and those to forget;
 *                                the others are fetched as the session remembers them. The answer
 *                                names only partitions with something to say: records, a high
 *                                watermark or log start offset other than the last one answered,
 *                                an error. Errors: FETCH_SESSION_ID_NOT_FOUND (no session s here),
 *                                INVALID_FETCH_SESSION_EPOCH (n is not the session's next epoch),
 *                                FETCH_SESSION_TOPIC_ID_ERROR (ids since v13, names before: the
 *                                request's version must match the session's), each answered with
 *                                session id 0 and no partitions.
 *
 * Why sessions matter beyond size: a client's session handler checks every answer against the
 * partitions it expects. The Java client (3.x) builds its close request (epoch -1, no
 * partitions) while the long-polling fetch before it is still waiting; when that fetch's answer
 * names partitions (as a sessionless answer must, every partition) the client no longer expects
 * them and logs "sent an invalid full fetch response with extraIds=(…), response=()". Kafka
 * answers that waiting fetch incrementally, naming nothing when nothing happened, so its
 * consumers close quietly; so does Strata now.
 *
 * Simplification (documented in docs/compatibility.md): Kafka keeps sessions in a broker-wide
 * cache (max.incremental.fetch.session.cache.slots, evicting idle ones); Strata keeps at most one
 * per connection, dropped with the connection. A client that reconnects and continues its
 * session is answered FETCH_SESSION_ID_NOT_FOUND, which Kafka also answers after an eviction, and
 * starts again with a full fetch. The number of sessions is bounded by the number of connections.
 */
import type { FetchRequest } from '../../protocol/generated/FetchRequest';
import { ErrorCode } from '../../protocol/errorCodes';

export const INVALID_SESSION_ID = 0;
export const INITIAL_EPOCH = 0;
export const FINAL_EPOCH = -1;

/** Kafka's FetchMetadata.nextEpoch: after MAX_VALUE comes 1, and a negative epoch stays FINAL. */
export function nextEpoch(epoch: number): number {
  if (epoch < 0) return FINAL_EPOCH;
  return epoch === 0x7fffffff ? 1 : epoch + 1;
}

/** One partition a fetch reads: from the request, or from the session for those it leaves out. */
export interface FetchTarget {
  /** Identity within a session: the topic id from v13, the topic name before (Kafka's CachedPartition equality). */
  readonly key: string;
  /** v13+: the topic id as sent (the topic may be unknown). */
  readonly topicId: string | undefined;
  /** v4-12: the topic name as sent. */
  readonly topicName: string | undefined;
  readonly partition: number;
  fetchOffset: bigint;
  maxBytes: number;
  currentLeaderEpoch: number;
  /** v12+: the epoch of the last batch the fetcher holds (followers), -1 when not given. */
  lastFetchedEpoch: number;
}

/** What an answer says about a partition, as far as the session cares. */
export interface PartitionAnswer {
  errorCode: number;
  highWatermark: bigint;
  logStartOffset: bigint;
  /** Bytes of records in the answer. */
  recordBytes: number;
  /** The answer names a diverging epoch (the fetcher must truncate): always sent. */
  diverging?: boolean;
}

/** A session's partition: the request parameters plus what was last answered about it. */
interface CachedPartition extends FetchTarget {
  highWatermark: bigint;
  logStartOffset: bigint;
}

export interface FetchSession {
  readonly id: number;
  /** The epoch the next request must carry. */
  epoch: number;
  readonly usesTopicIds: boolean;
  /** In fetch order: partitions that last returned records move to the end (Kafka's fairness rule). */
  readonly partitions: Map<string, CachedPartition>;
}

export type FetchContext =
  | { readonly kind: 'sessionError'; readonly errorCode: number }
  | { readonly kind: 'sessionless'; readonly targets: FetchTarget[] }
  | { readonly kind: 'full'; readonly targets: FetchTarget[] }
  | { readonly kind: 'incremental'; readonly session: FetchSession; readonly targets: FetchTarget[] };

function keyOf(usesTopicIds: boolean, topicId: string | undefined, topicName: string | undefined, partition: number): string {
  return `${usesTopicIds ? `id:${topicId ?? ''}` : `name:${topicName ?? ''}`}:${partition}`;
}

/**
 * The request's partitions in request order, each once: a partition named twice keeps its first
 * place and its last parameters, as Kafka's LinkedHashMap of fetch data does.
 */
export function requestedTargets(req: FetchRequest, version: number): FetchTarget[] {
  const usesTopicIds = version >= 13;
  const out = new Map<string, FetchTarget>();
  for (const t of req.topics) {
    const topicId = usesTopicIds ? t.topicId : undefined;
    const topicName = usesTopicIds ? undefined : t.topic;
    for (const p of t.partitions) {
      const key = keyOf(usesTopicIds, topicId, topicName, p.partition);
      const target: FetchTarget = {
        key,
        topicId,
        topicName,
        partition: p.partition,
        fetchOffset: p.fetchOffset,
        maxBytes: p.partitionMaxBytes,
        currentLeaderEpoch: p.currentLeaderEpoch ?? -1,
        lastFetchedEpoch: p.lastFetchedEpoch ?? -1,
      };
      const seen = out.get(key);
      if (seen) Object.assign(seen, positionOf(target));
      else out.set(key, target);
    }
  }
  return [...out.values()];
}

/** What a later request may change about a partition it names again. */
function positionOf(t: FetchTarget): Pick<FetchTarget, 'fetchOffset' | 'maxBytes' | 'currentLeaderEpoch' | 'lastFetchedEpoch'> {
  return { fetchOffset: t.fetchOffset, maxBytes: t.maxBytes, currentLeaderEpoch: t.currentLeaderEpoch, lastFetchedEpoch: t.lastFetchedEpoch };
}

function forgottenKeys(req: FetchRequest, version: number): string[] {
  const usesTopicIds = version >= 13;
  return (req.forgottenTopicsData ?? []).flatMap((t) => t.partitions.map((p) => keyOf(usesTopicIds, usesTopicIds ? t.topicId : undefined, usesTopicIds ? undefined : t.topic, p)));
}

/** Per-connection fetch sessions. `conn` is any object that lives exactly as long as its connection. */
export class FetchSessions {
  private readonly byConnection = new WeakMap<object, FetchSession>();

  /** Kafka's FetchManager.newContext: applies the request to the connection's session. */
  newContext(conn: object, version: number, req: FetchRequest): FetchContext {
    const sessionId = req.sessionId ?? INVALID_SESSION_ID;
    const epoch = req.sessionEpoch ?? FINAL_EPOCH;
    const current = this.byConnection.get(conn);
    if (epoch === INITIAL_EPOCH || epoch === FINAL_EPOCH) {
      // Any session a full fetch names is closed; a new one replaces it once answered.
      if (current && sessionId !== INVALID_SESSION_ID && current.id === sessionId) this.byConnection.delete(conn);
      const targets = requestedTargets(req, version);
      return epoch === FINAL_EPOCH ? { kind: 'sessionless', targets } : { kind: 'full', targets };
    }
    if (!current || current.id !== sessionId) return { kind: 'sessionError', errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND };
    if (current.epoch !== epoch) return { kind: 'sessionError', errorCode: ErrorCode.INVALID_FETCH_SESSION_EPOCH };
    if (current.usesTopicIds !== version >= 13) return { kind: 'sessionError', errorCode: ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR };

    const requested = requestedTargets(req, version);
    for (const t of requested) {
      const cached = current.partitions.get(t.key);
      if (cached) Object.assign(cached, positionOf(t));
      else current.partitions.set(t.key, { ...t, highWatermark: -1n, logStartOffset: -1n });
    }
    for (const key of forgottenKeys(req, version)) current.partitions.delete(key);
    if (current.partitions.size === 0) {
      // Nothing left to fetch: the session ends and the (empty) request is answered without one.
      this.byConnection.delete(conn);
      return { kind: 'sessionless', targets: requested };
    }
    current.epoch = nextEpoch(current.epoch);
    return { kind: 'incremental', session: current, targets: [...current.partitions.values()].map((c) => ({ ...c })) };
  }

  /** After a full fetch's answer: opens the connection's session with what was answered; returns its id. */
  open(conn: object, version: number, answered: ReadonlyArray<{ target: FetchTarget; answer: PartitionAnswer }>): number {
    const partitions = new Map<string, CachedPartition>();
    for (const { target, answer } of answered) {
      partitions.set(target.key, { ...target, highWatermark: answer.highWatermark, logStartOffset: answer.logStartOffset });
    }
    const previous = this.byConnection.get(conn);
    let id: number;
    do id = 1 + Math.floor(Math.random() * 0x7ffffffe);
    while (previous !== undefined && id === previous.id);
    this.byConnection.set(conn, { id, epoch: nextEpoch(INITIAL_EPOCH), usesTopicIds: version >= 13, partitions });
    return id;
  }

  /**
   * Kafka's IncrementalFetchContext: whether each answer must be sent (records, a changed high
   * watermark or log start offset, an error), remembering what is sent. Partitions that returned
   * records move to the end of the session's fetch order.
   */
  select(session: FetchSession, answered: ReadonlyArray<{ target: FetchTarget; answer: PartitionAnswer }>): boolean[] {
    return answered.map(({ target, answer }) => {
      const cached = session.partitions.get(target.key);
      if (!cached) return true;
      let mustRespond = answer.recordBytes > 0 || answer.diverging === true;
      if (cached.highWatermark !== answer.highWatermark) {
        mustRespond = true;
        cached.highWatermark = answer.highWatermark;
      }
      if (cached.logStartOffset !== answer.logStartOffset) {
        mustRespond = true;
        cached.logStartOffset = answer.logStartOffset;
      }
      if (answer.errorCode !== ErrorCode.NONE) {
        // Sent again once the error is gone: the next answer's watermark differs from -1.
        cached.highWatermark = -1n;
        mustRespond = true;
      }
      if (answer.recordBytes > 0) {
        session.partitions.delete(target.key);
        session.partitions.set(target.key, cached);
      }
      return mustRespond;
    });
  }

  /** The connection's session, if any (tests and debugging). */
  sessionOf(conn: object): FetchSession | undefined {
    return this.byConnection.get(conn);
  }
}
