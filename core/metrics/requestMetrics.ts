import { API_MESSAGES, ApiKey } from '../protocol/generated/index';
import { errorName } from '../protocol/errorCodes';
import type { ProduceRequest } from '../protocol/generated/ProduceRequest';
import type { ProduceResponse } from '../protocol/generated/ProduceResponse';
import type { FetchResponse } from '../protocol/generated/FetchResponse';
import type { RecordsInput } from '../protocol/writer';
import type { CounterChild, Counter, Histogram, HistogramChild, MetricsRegistry } from './registry';

/**
 * Request metrics, observed by the dispatcher around each handler call (Kafka's RequestMetrics
 * and BrokerTopicMetrics): requests, handling time (a total, and a histogram for percentiles:
 * Kafka's TotalTimeMs p99) and error codes per API; bytes and records appended by Produce and
 * bytes sent by Fetch, per topic.
 *
 * The hot path is a few increments: each API's counters are looked up once (by api key, in an
 * array) and a topic's by one Map lookup per topic in the request. Error codes are counted where
 * that costs nothing extra: the top-level error code of every response, and the partition error
 * codes of Produce and Fetch (walked anyway for the byte counts). Nested error codes of other APIs
 * (CreateTopics' per-topic ones, say) are not counted.
 */

/** What request metrics need of the metadata cache (MetadataCache satisfies it). */
export interface TopicLookup {
  get(name: string): { readonly partitions: readonly { readonly logEndOffset: bigint }[] } | undefined;
  getById(topicId: string): { readonly name: string } | undefined;
}

/**
 * What `begin` hands to `end`: the start time (performance.now(), ms); for a Produce with acks=0,
 * which gets no response to read outcomes from, also each partition's log end offset before it.
 */
export type RequestStart = number | { t0: number; before: (bigint | undefined)[][] };

interface ApiCounters {
  readonly name: string;
  readonly requests: CounterChild;
  readonly seconds: CounterChild;
  readonly duration: HistogramChild;
  readonly errors: Map<number, CounterChild>;
}

/** Handling-time buckets (seconds): sub-millisecond appends up to Fetch long polls and acks=all timeouts. */
export const REQUEST_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Per-topic traffic; rendered by collected counters, dropped once the topic is gone. */
interface TopicTraffic {
  bytesIn: number;
  messagesIn: number;
  bytesOut: number;
}

/** A RecordBatch v2 header: batchLength (int32) at 8, recordCount (int32) at 57; length excludes the first 12 bytes. */
const BATCH_LENGTH_AT = 8;
const RECORD_COUNT_AT = 57;
const LOG_OVERHEAD = 12;
const BATCH_HEADER = 61;

export class RequestMetrics {
  private readonly byApi: (ApiCounters | undefined)[] = [];
  private readonly traffic = new Map<string, TopicTraffic>();
  private readonly requests: Counter;
  private readonly seconds: Counter;
  private readonly duration: Histogram;
  private readonly errors: Counter;

  constructor(
    registry: MetricsRegistry,
    private readonly topics: TopicLookup,
  ) {
    this.requests = registry.counter({ name: 'strata_requests_total', help: 'Requests handled, by Kafka API (Kafka: RequestsPerSec).', labelNames: ['request'] });
    this.seconds = registry.counter({
      name: 'strata_request_seconds_total',
      help: 'Time spent handling requests, from the decoded request until the response is ready, including Fetch long-poll waits (Kafka: TotalTimeMs).',
      labelNames: ['request'],
    });
    this.duration = registry.histogram({
      name: 'strata_request_duration_seconds',
      help: 'Time from the decoded request until the response is ready, by Kafka API, as a histogram (Kafka: TotalTimeMs percentiles); includes Fetch long-poll and acks=all waits.',
      labelNames: ['request'],
      buckets: REQUEST_DURATION_BUCKETS,
    });
    this.errors = registry.counter({
      name: 'strata_request_errors_total',
      help: 'Error codes answered, by Kafka API and Kafka error name: top-level codes, and partition codes of Produce and Fetch (Kafka: ErrorsPerSec).',
      labelNames: ['request', 'error'],
    });
    const traffic = registry.snapshot(() => this.liveTraffic());
    const perTopic = (name: string, help: string, pick: (t: TopicTraffic) => number): void =>
      registry.collected({
        name,
        help,
        type: 'counter',
        labelNames: ['topic'],
        collect: (emit) => {
          for (const [topic, t] of traffic()) emit(pick(t), [topic]);
        },
      });
    perTopic('strata_topic_bytes_in_total', 'Record bytes appended by Produce, by topic (Kafka: BytesInPerSec).', (t) => t.bytesIn);
    perTopic('strata_topic_messages_in_total', 'Records appended by Produce, by topic (Kafka: MessagesInPerSec).', (t) => t.messagesIn);
    perTopic('strata_topic_bytes_out_total', 'Record bytes sent in Fetch responses, by topic (Kafka: BytesOutPerSec).', (t) => t.bytesOut);
  }

  /** Called before the handler. */
  begin(apiKey: number, req: unknown): RequestStart {
    const t0 = performance.now();
    if (apiKey === ApiKey.Produce && (req as ProduceRequest).acks === 0) {
      const before = (req as ProduceRequest).topicData.map((td) => {
        const t = this.topics.get(td.name);
        return td.partitionData.map((pd) => t?.partitions[pd.index]?.logEndOffset);
      });
      return { t0, before };
    }
    return t0;
  }

  /** Called with the handler's response (null: none was sent, e.g. Produce with acks=0). */
  end(apiKey: number, req: unknown, res: unknown, start: RequestStart): void {
    const api = (this.byApi[apiKey] ??= this.apiCounters(apiKey));
    api.requests.inc();
    const seconds = (performance.now() - (typeof start === 'number' ? start : start.t0)) / 1000;
    api.seconds.inc(seconds);
    api.duration.observe(seconds);
    if (res !== null && typeof res === 'object') {
      const code = (res as { errorCode?: unknown }).errorCode;
      if (typeof code === 'number' && code !== 0) this.countError(api, code);
    }
    if (apiKey === ApiKey.Produce) this.produced(api, req as ProduceRequest, res as ProduceResponse | null, start);
    else if (apiKey === ApiKey.Fetch && res !== null) this.fetched(api, res as FetchResponse<RecordsInput>);
  }

  private produced(api: ApiCounters, req: ProduceRequest, res: ProduceResponse | null, start: RequestStart): void {
    req.topicData.forEach((td, i) => {
      let bytes = 0;
      let records = 0;
      const partitions = res?.responses[i]?.partitionResponses;
      td.partitionData.forEach((pd, j) => {
        let appended: boolean;
        if (res !== null) {
          const code = partitions?.[j]?.errorCode ?? 0;
          if (code !== 0) this.countError(api, code);
          appended = code === 0;
        } else {
          // acks=0: the append happened iff the log end offset moved (the handler is synchronous).
          const before = typeof start === 'number' ? undefined : start.before[i]?.[j];
          const after = this.topics.get(td.name)?.partitions[pd.index]?.logEndOffset;
          appended = before !== undefined && after !== undefined && after > before;
        }
        if (appended && pd.records) {
          bytes += pd.records.length;
          records += recordCount(pd.records);
        }
      });
      if (bytes > 0) {
        const t = this.topicTraffic(td.name);
        t.bytesIn += bytes;
        t.messagesIn += records;
      }
    });
  }

  private fetched(api: ApiCounters, res: FetchResponse<RecordsInput>): void {
    for (const t of res.responses) {
      let bytes = 0;
      for (const p of t.partitions) {
        if (p.errorCode !== 0) this.countError(api, p.errorCode);
        const r = p.records;
        if (r === null) continue;
        if (Buffer.isBuffer(r)) bytes += r.length;
        else for (const c of r) bytes += c.length;
      }
      if (bytes > 0) {
        const name = t.topic || (t.topicId !== undefined ? this.topics.getById(t.topicId)?.name : undefined);
        if (name) this.topicTraffic(name).bytesOut += bytes;
      }
    }
  }

  private countError(api: ApiCounters, code: number): void {
    let c = api.errors.get(code);
    if (c === undefined) {
      c = this.errors.labels(api.name, errorName(code));
      api.errors.set(code, c);
    }
    c.inc();
  }

  private topicTraffic(topic: string): TopicTraffic {
    let t = this.traffic.get(topic);
    if (t === undefined) {
      t = { bytesIn: 0, messagesIn: 0, bytesOut: 0 };
      this.traffic.set(topic, t);
    }
    return t;
  }

  /** Per-topic traffic, sorted by topic; topics deleted since are dropped (their series end). */
  private liveTraffic(): [string, TopicTraffic][] {
    for (const name of this.traffic.keys()) if (this.topics.get(name) === undefined) this.traffic.delete(name);
    return [...this.traffic].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private apiCounters(apiKey: number): ApiCounters {
    const name = API_MESSAGES.get(apiKey)?.name ?? `ApiKey${apiKey}`;
    return { name, requests: this.requests.labels(name), seconds: this.seconds.labels(name), duration: this.duration.labels(name), errors: new Map() };
  }
}

/** Records in a validated `records` field: the sum of its batches' record counts (headers only). */
function recordCount(records: Buffer): number {
  let n = 0;
  let pos = 0;
  while (pos + BATCH_HEADER <= records.length) {
    const length = records.readInt32BE(pos + BATCH_LENGTH_AT);
    if (length < BATCH_HEADER - LOG_OVERHEAD) break; // not a batch (validated input never gets here)
    n += records.readInt32BE(pos + RECORD_COUNT_AT);
    pos += LOG_OVERHEAD + length;
  }
  return n;
}
