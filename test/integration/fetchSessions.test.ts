/**
 * Fetch answers shaped as Kafka shapes them (KIP-227), over a real socket to a real broker:
 * raw Fetch requests at chosen versions and session ids, answers decoded by the generated codec.
 *
 * - Full fetches without a session (epoch -1, what kcat, kafkajs and kafka-python send): every
 *   partition named, data or not, each once; unknown ones after the known; no topic entry
 *   without partitions.
 * - Sessions (epoch 0 opens one, as the Java client does): incremental answers name only
 *   partitions with records, a new high watermark or log start offset, or an error; the session
 *   errors; closing with epoch -1.
 * - The Java client's close: its long-polling fetch is still waiting when the close request
 *   follows on the same connection; the waiting fetch's answer must name nothing when nothing
 *   happened, or the client logs "sent an invalid full fetch response with extraIds=(…)".
 */
import { StrataClient } from '../../core/client/client';
import { KafkaConnection } from '../../core/client/connection';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { ApiKey } from '../../core/protocol/generated/index';
import type { FetchRequest, FetchTopic } from '../../core/protocol/generated/FetchRequest';
import type { FetchResponse } from '../../core/protocol/generated/FetchResponse';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

let broker: BrokerProcess;
let client: StrataClient;
const conns: KafkaConnection[] = [];
const ids = new Map<string, string>();

beforeAll(async () => {
  broker = await startBroker();
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], clientId: 'fetch-sessions' });
  await topics('fs');
});

/** `<prefix>-data` (2 partitions: 2 records on 0, 1 on 1) and `<prefix>-quiet` (2 empty partitions). */
async function topics(prefix: string): Promise<{ data: string; quiet: string }> {
  const data = `${prefix}-data`;
  const quiet = `${prefix}-quiet`;
  for (const t of await client.createTopics([
    { name: data, numPartitions: 2, replicationFactor: 1 },
    { name: quiet, numPartitions: 2, replicationFactor: 1 },
  ])) {
    ids.set(t.name, t.topicId);
  }
  await client.produce(data, 0, [{ value: 'a' }, { value: 'b' }]);
  await client.produce(data, 1, [{ value: 'c' }]);
  return { data, quiet };
}

afterAll(async () => {
  for (const c of conns) c.close();
  await client?.close();
  await stopAllBrokers();
});

async function connect(): Promise<KafkaConnection> {
  const [host, port] = broker.bootstrap.split(':');
  const c = await KafkaConnection.connect({ host, port: Number(port), clientId: 'fetch-sessions-raw' });
  conns.push(c);
  return c;
}

/** A fetch topic by id (v13+) or name, partitions at offset 0 unless given. */
function topic(name: string, version: number, partitions: Array<number | [number, bigint]>): FetchTopic {
  return {
    ...(version >= 13 ? { topicId: ids.get(name) ?? name } : { topic: name }),
    partitions: partitions.map((p) => {
      const [partition, fetchOffset] = Array.isArray(p) ? p : [p, 0n];
      return { partition, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n, lastFetchedEpoch: -1 };
    }),
  };
}

function request(version: number, sessionId: number, sessionEpoch: number, topics: FetchTopic[], extra: Partial<FetchRequest> = {}): FetchRequest {
  return { replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1 << 24, isolationLevel: 0, sessionId, sessionEpoch, topics, forgottenTopicsData: [], rackId: '', ...extra };
}

function fetch(conn: KafkaConnection, version: number, req: FetchRequest): Promise<FetchResponse> {
  return conn.send<FetchResponse>(ApiKey.Fetch, req, { version });
}

/** The answer as "topic:partition:error:highWatermark:logStartOffset:hasRecords" per partition, topic entries in answer order (names from ids). */
function shape(res: FetchResponse, version: number): string[][] {
  const byId = new Map([...ids].map(([n, id]) => [id, n]));
  return res.responses.map((t) => {
    const name = version >= 13 ? (byId.get(t.topicId!) ?? `id ${t.topicId}`) : t.topic!;
    return t.partitions.map((p) => `${name}:${p.partitionIndex}:${p.errorCode}:${p.highWatermark}:${p.logStartOffset}:${p.records ? (p.records as Buffer).length > 0 : false}`);
  });
}

describe('full fetches without a session (epoch -1)', () => {
  test.each([12, 16])('v%i: every partition named once, data or not; unknown ones last; no topic without partitions', async (version) => {
    const conn = await connect();
    const unknown = version >= 13 ? { topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1024 }] } : topic('fs-missing', version, [0]);
    const res = await fetch(
      conn,
      version,
      request(version, 0, -1, [
        topic('fs-data', version, [0]),
        unknown,
        topic('fs-quiet', version, [0, 1]),
        topic('fs-data', version, []), // a topic with no partitions: nothing to answer
        topic('fs-data', version, [1, 0, 7]), // fs-data 0 again: fetched once, in its first place
      ]),
    );
    expect(res.errorCode).toBe(ErrorCode.NONE);
    expect(res.sessionId).toBe(0);
    const unknownName = version >= 13 ? 'id AAAAAAAAAAAAAAAAAAAAAQ' : 'fs-missing';
    const unknownCode = version >= 13 ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    expect(shape(res, version)).toEqual([
      ['fs-data:0:0:2:0:true'],
      ['fs-quiet:0:0:0:0:false', 'fs-quiet:1:0:0:0:false'],
      ['fs-data:1:0:1:0:true'],
      [`${unknownName}:0:${unknownCode}:-1:-1:false`],
      [`fs-data:7:${ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}:-1:-1:false`],
    ]);
  });
});

describe('fetch sessions (epoch 0 opens one)', () => {
  test.each([12, 16])('v%i: incremental answers name only partitions with something to say', async (version) => {
    const { data, quiet } = await topics(`fs-v${version}`);
    const conn = await connect();
    const full = await fetch(conn, version, request(version, 0, 0, [topic(data, version, [0, 1]), topic(quiet, version, [0, 1])]));
    expect(full.errorCode).toBe(ErrorCode.NONE);
    expect(full.sessionId).toBeGreaterThan(0);
    expect(shape(full, version)).toEqual([
      [`${data}:0:0:2:0:true`, `${data}:1:0:1:0:true`],
      [`${quiet}:0:0:0:0:false`, `${quiet}:1:0:0:0:false`],
    ]);
    const id = full.sessionId!;
    const next = (epoch: number, topics: FetchTopic[], extra: Partial<FetchRequest> = {}) => fetch(conn, version, request(version, id, epoch, topics, extra));

    // The client moves its fetch offsets past what it got: nothing new anywhere, nothing named.
    let res = await next(1, [topic(data, version, [[0, 2n], [1, 1n]])]);
    expect({ errorCode: res.errorCode, sessionId: res.sessionId, responses: res.responses }).toEqual({ errorCode: 0, sessionId: id, responses: [] });

    // Records on one partition: only it is named, with them; the request need not list it.
    await client.produce(data, 1, [{ value: 'd' }]);
    res = await next(2, []);
    expect(res.sessionId).toBe(id);
    expect(shape(res, version)).toEqual([[`${data}:1:0:2:0:true`]]);
    await client.produce(quiet, 1, [{ value: 'q' }]);
    res = await next(3, [topic(data, version, [[1, 2n]])]);
    expect(shape(res, version)).toEqual([[`${quiet}:1:0:1:0:true`]]);

    // A new log start offset is news without records.
    await client.deleteRecords([{ topic: quiet, partition: 1, offset: 1n }]);
    res = await next(4, [topic(quiet, version, [[1, 1n]])]);
    expect(shape(res, version)).toEqual([[`${quiet}:1:0:1:1:false`]]);
    res = await next(5, []);
    expect(res.responses).toEqual([]);

    // An error is named every time, and the partition once more when the error is gone.
    res = await next(6, [topic(quiet, version, [[1, 5n]])]);
    expect(shape(res, version)).toEqual([[`${quiet}:1:${ErrorCode.OFFSET_OUT_OF_RANGE}:1:1:false`]]);
    res = await next(7, []);
    expect(shape(res, version)).toEqual([[`${quiet}:1:${ErrorCode.OFFSET_OUT_OF_RANGE}:1:1:false`]]);
    res = await next(8, [topic(quiet, version, [[1, 1n]])]);
    expect(shape(res, version)).toEqual([[`${quiet}:1:0:1:1:false`]]);

    // Forgotten partitions are no longer fetched; forgetting the last ends the session.
    const forget = (name: string, partitions: number[]) => (version >= 13 ? { topicId: ids.get(name), partitions } : { topic: name, partitions });
    await client.produce(quiet, 0, [{ value: 'r' }]);
    res = await next(9, [], { forgottenTopicsData: [forget(quiet, [0, 1])] });
    expect(res.responses).toEqual([]);
    res = await next(10, [], { forgottenTopicsData: [forget(data, [0, 1])] });
    expect({ errorCode: res.errorCode, sessionId: res.sessionId, responses: res.responses }).toEqual({ errorCode: 0, sessionId: 0, responses: [] });
    res = await next(11, []);
    expect(res.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
  });

  test('session errors (unknown id, wrong epoch, ids against names, another connection) answer session 0 and nothing else; epoch -1 closes, epoch 0 replaces', async () => {
    const { data } = await topics('fs-errors');
    const conn = await connect();
    const full = await fetch(conn, 16, request(16, 0, 0, [topic(data, 16, [0])]));
    const id = full.sessionId!;
    expect(id).toBeGreaterThan(0);
    const errorOf = async (c: KafkaConnection, version: number, sessionId: number, epoch: number) => {
      const res = await fetch(c, version, request(version, sessionId, epoch, []));
      expect(res.sessionId).toBe(0);
      expect(res.responses).toEqual([]);
      return res.errorCode;
    };
    expect(await errorOf(conn, 16, id + 1, 1)).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    expect(await errorOf(conn, 16, 0, 3)).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    expect(await errorOf(conn, 16, id, 2)).toBe(ErrorCode.INVALID_FETCH_SESSION_EPOCH);
    expect(await errorOf(conn, 12, id, 1)).toBe(ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR);
    // Sessions live on their connection: elsewhere the id is unknown (the client starts over with a full fetch).
    expect(await errorOf(await connect(), 16, id, 1)).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    // The errors left the session as it was.
    const ok = await fetch(conn, 16, request(16, id, 1, []));
    expect({ errorCode: ok.errorCode, sessionId: ok.sessionId }).toEqual({ errorCode: 0, sessionId: id });

    // A full fetch naming the session closes it: epoch -1 answers without a session...
    const closed = await fetch(conn, 16, request(16, id, -1, [topic(data, 16, [[0, 2n]])]));
    expect({ sessionId: closed.sessionId, shape: shape(closed, 16) }).toEqual({ sessionId: 0, shape: [[`${data}:0:0:2:0:false`]] });
    expect(await errorOf(conn, 16, id, 2)).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    // ...epoch 0 replaces it with a new one.
    const a = await fetch(conn, 16, request(16, 0, 0, [topic(data, 16, [0])]));
    const b = await fetch(conn, 16, request(16, a.sessionId!, 0, [topic(data, 16, [1])]));
    expect(b.sessionId).toBeGreaterThan(0);
    expect(b.sessionId).not.toBe(a.sessionId);
    expect(await errorOf(conn, 16, a.sessionId!, 1)).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
  });

  test("the Java client's close: the long poll still waiting when the close request follows answers nothing when nothing happened", async () => {
    const { quiet } = await topics('fs-close');
    const conn = await connect();
    // As KafkaConsumer 3.8 does at close: its long-polling fetch waits (nothing to read), and the
    // close request (epoch -1, no partitions) follows on the same connection before the answer.
    const pipelined = (first: FetchRequest, sessionId: number) =>
      Promise.all([fetch(conn, 16, { ...first, maxWaitMs: 300, minBytes: 1 }), fetch(conn, 16, request(16, sessionId, -1, []))]);

    // Without a session the long poll's answer names every partition, as Kafka's does too; the
    // client, whose session handler was reset by the close it built, then logs extraIds=(<id>).
    const [sessionless, close1] = await pipelined(request(16, 0, -1, [topic(quiet, 16, [0, 1])]), 0);
    expect(shape(sessionless, 16)).toEqual([[`${quiet}:0:0:0:0:false`, `${quiet}:1:0:0:0:false`]]);
    expect(close1.responses).toEqual([]);

    // In a session (what the Java client asks for) the waiting fetch is incremental: nothing to say, nothing named.
    const full = await fetch(conn, 16, request(16, 0, 0, [topic(quiet, 16, [0, 1])]));
    const started = Date.now();
    const [polled, closed] = await pipelined(request(16, full.sessionId!, 1, []), full.sessionId!);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect({ errorCode: polled.errorCode, sessionId: polled.sessionId, responses: polled.responses }).toEqual({ errorCode: 0, sessionId: full.sessionId, responses: [] });
    expect({ errorCode: closed.errorCode, sessionId: closed.sessionId, responses: closed.responses }).toEqual({ errorCode: 0, sessionId: 0, responses: [] });
  });
});
