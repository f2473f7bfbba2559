import { buildRecordBatch } from '../../core/log/recordBatchBuilder';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { ProduceRequest } from '../../core/protocol/generated/ProduceRequest';
import type { ProduceResponse } from '../../core/protocol/generated/ProduceResponse';
import { MetricsRegistry } from '../../core/metrics/registry';
import { RequestMetrics, type TopicLookup } from '../../core/metrics/requestMetrics';

/** A metadata cache as request metrics see it: names, ids and log end offsets. */
class Topics implements TopicLookup {
  readonly byName = new Map<string, { name: string; partitions: { logEndOffset: bigint }[] }>();
  readonly ids = new Map<string, string>();

  add(name: string, id: string, partitions: number): void {
    this.byName.set(name, { name, partitions: Array.from({ length: partitions }, () => ({ logEndOffset: 0n })) });
    this.ids.set(id, name);
  }

  get(name: string) {
    return this.byName.get(name);
  }

  getById(id: string) {
    const name = this.ids.get(id);
    return name === undefined ? undefined : this.byName.get(name);
  }
}

function batch(n: number): Buffer {
  return buildRecordBatch({ records: Array.from({ length: n }, (_, i) => ({ key: null, value: Buffer.from(`value-${i}`) })) });
}

/** Sample value of `name{labels}` in a scrape, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function setup(): { registry: MetricsRegistry; topics: Topics; metrics: RequestMetrics } {
  const registry = new MetricsRegistry();
  const topics = new Topics();
  topics.add('orders', 'id-orders', 2);
  return { registry, topics, metrics: new RequestMetrics(registry, topics) };
}

const produceOk = (index: number) => ({ index, errorCode: 0, baseOffset: 0n, logAppendTimeMs: -1n, logStartOffset: 0n, recordErrors: [], errorMessage: null });

describe('RequestMetrics', () => {
  test('Produce: requests and time per API; bytes and records of the partitions appended; partition error codes by name', () => {
    const { registry, metrics } = setup();
    const p0 = Buffer.concat([batch(3), batch(2)]);
    const p1 = batch(4);
    const req: ProduceRequest = { acks: 1, timeoutMs: 1000, topicData: [{ name: 'orders', partitionData: [{ index: 0, records: p0 }, { index: 1, records: p1 }] }] };
    const res: ProduceResponse = {
      responses: [{ name: 'orders', partitionResponses: [produceOk(0), { ...produceOk(1), errorCode: ErrorCode.CORRUPT_MESSAGE }] }],
    };
    const start = metrics.begin(ApiKey.Produce, req);
    const until = performance.now() + 5;
    while (performance.now() < until) {
      // handling takes 5 ms
    }
    metrics.end(ApiKey.Produce, req, res, start);
    const text = registry.render();
    expect(sample(text, 'strata_requests_total{request="Produce"}')).toBe(1);
    expect(sample(text, 'strata_request_seconds_total{request="Produce"}')).toBeGreaterThanOrEqual(0.005);
    expect(sample(text, 'strata_request_seconds_total{request="Produce"}')).toBeLessThan(5);
    expect(sample(text, 'strata_topic_bytes_in_total{topic="orders"}')).toBe(p0.length);
    expect(sample(text, 'strata_topic_messages_in_total{topic="orders"}')).toBe(5);
    expect(sample(text, 'strata_request_errors_total{request="Produce",error="CORRUPT_MESSAGE"}')).toBe(1);
    expect(sample(text, 'strata_topic_bytes_out_total{topic="orders"}')).toBe(0);
  });

  test('Produce with acks=0 (no response): counted where the log end offset moved', () => {
    const { registry, topics, metrics } = setup();
    const p0 = batch(2);
    const p1 = batch(7);
    const req: ProduceRequest = { acks: 0, timeoutMs: 1000, topicData: [{ name: 'orders', partitionData: [{ index: 0, records: p0 }, { index: 1, records: p1 }] }] };
    const start = metrics.begin(ApiKey.Produce, req);
    topics.get('orders')!.partitions[0].logEndOffset = 2n; // partition 0 appended, partition 1 refused
    metrics.end(ApiKey.Produce, req, null, start);
    const text = registry.render();
    expect(sample(text, 'strata_requests_total{request="Produce"}')).toBe(1);
    expect(sample(text, 'strata_topic_bytes_in_total{topic="orders"}')).toBe(p0.length);
    expect(sample(text, 'strata_topic_messages_in_total{topic="orders"}')).toBe(2);
  });

  test('Fetch: bytes sent per topic (chunks summed, topic ids resolved), partition errors counted', () => {
    const { registry, metrics } = setup();
    const chunks = [Buffer.alloc(100), Buffer.alloc(28)];
    const part = (partitionIndex: number, errorCode: number, records: Buffer | Buffer[] | null) => ({ partitionIndex, errorCode, highWatermark: 0n, records });
    const res = {
      responses: [
        { topic: 'orders', partitions: [part(0, 0, chunks), part(1, ErrorCode.OFFSET_OUT_OF_RANGE, Buffer.alloc(0))] },
        { topic: '', topicId: 'id-orders', partitions: [part(1, 0, Buffer.alloc(50))] },
        { topic: '', topicId: 'unknown-id', partitions: [part(0, ErrorCode.UNKNOWN_TOPIC_ID, null)] },
      ],
    };
    metrics.end(ApiKey.Fetch, {}, res, metrics.begin(ApiKey.Fetch, {}));
    const text = registry.render();
    expect(sample(text, 'strata_topic_bytes_out_total{topic="orders"}')).toBe(178);
    expect(sample(text, 'strata_request_errors_total{request="Fetch",error="OFFSET_OUT_OF_RANGE"}')).toBe(1);
    expect(sample(text, 'strata_request_errors_total{request="Fetch",error="UNKNOWN_TOPIC_ID"}')).toBe(1);
    expect(text).not.toContain('unknown-id');
  });

  test('other APIs: the top-level error code', () => {
    const { registry, metrics } = setup();
    for (const errorCode of [ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NONE, ErrorCode.COORDINATOR_NOT_AVAILABLE]) {
      metrics.end(ApiKey.FindCoordinator, {}, { errorCode }, metrics.begin(ApiKey.FindCoordinator, {}));
    }
    const text = registry.render();
    expect(sample(text, 'strata_requests_total{request="FindCoordinator"}')).toBe(3);
    expect(sample(text, 'strata_request_errors_total{request="FindCoordinator",error="COORDINATOR_NOT_AVAILABLE"}')).toBe(2);
    expect(text).not.toContain('error="NONE"');
  });

  test('a deleted topic\'s traffic series end at the next scrape', () => {
    const { registry, topics, metrics } = setup();
    const records = batch(1);
    const req: ProduceRequest = { acks: 1, timeoutMs: 1000, topicData: [{ name: 'orders', partitionData: [{ index: 0, records }] }] };
    metrics.end(ApiKey.Produce, req, { responses: [{ name: 'orders', partitionResponses: [produceOk(0)] }] }, metrics.begin(ApiKey.Produce, req));
    expect(sample(registry.render(), 'strata_topic_bytes_in_total{topic="orders"}')).toBe(records.length);
    topics.byName.delete('orders');
    expect(registry.render()).not.toContain('topic="orders"');
  });
});
