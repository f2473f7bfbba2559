import type { ConnectionInfo } from '../../core/broker/server';
import { createLogger } from '../../core/common/logger';
import { ApiKey } from '../../core/protocol/generated/index';
import { QuotaManager } from '../../core/quota/quotaManager';
import { applyRequestQuota } from '../../core/quota/requestQuota';
import { ANONYMOUS } from '../../core/security/principal';

/**
 * request_percentage as the dispatcher applies it: which requests count (Kafka's exemptions), the
 * answer's throttle_time_ms raised to the throttle, the connection told to mute for it. Muting
 * itself is test/broker/server.test.ts's; a real broker's answers test/integration/quotas.test.ts's.
 */
function connection(): ConnectionInfo & { throttles: number[] } {
  const throttles: number[] = [];
  return {
    id: 1,
    remote: '127.0.0.1:1',
    remoteIp: '127.0.0.1',
    listenerName: 'PLAINTEXT',
    securityProtocol: 'PLAINTEXT',
    principal: ANONYMOUS,
    throttle: (ms: number) => throttles.push(ms),
    throttles,
  } as ConnectionInfo & { throttles: number[] };
}

function overQuota(): QuotaManager {
  const m = new QuotaManager(null, { windowNum: 11, windowSizeSeconds: 1, logger: createLogger('test') });
  // 0.001% of a second per second: 0.1 ms over the first 10 s, so 1 s of request time is far over.
  m.setQuotas([{ entity: { clientId: 'app' }, values: { request_percentage: 0.001 } }]);
  return m;
}

test('a request over the quota: throttle_time_ms raised to the throttle (at most one window), the connection muted', () => {
  const m = overQuota();
  const conn = connection();
  const res = { throttleTimeMs: 0, topics: [] };
  applyRequestQuota(m, conn, 'app', ApiKey.Metadata, 12, {}, res, 1000);
  expect(res.throttleTimeMs).toBe(1000);
  expect(conn.throttles).toEqual([1000]);
  // A larger throttle already in the answer (a byte rate's) is kept.
  const produce = { throttleTimeMs: 5000, responses: [] };
  applyRequestQuota(m, conn, 'app', ApiKey.Produce, 9, { acks: 1 }, produce, 1000);
  expect(produce.throttleTimeMs).toBe(5000);
});

test("Kafka's exemptions: acks=0 Produce, followers' fetches, requests between brokers; other clients are not limited", () => {
  const m = overQuota();
  const conn = connection();
  const exempt: Array<[number, number, unknown]> = [
    [ApiKey.Produce, 9, { acks: 0 }],
    [ApiKey.Fetch, 12, { replicaId: 2 }],
    [ApiKey.Fetch, 15, { replicaId: -1, replicaState: { replicaId: 2 } }],
    [ApiKey.UpdateMetadata, 8, {}],
    [ApiKey.WriteTxnMarkers, 1, {}],
  ];
  for (const [api, version, req] of exempt) {
    const res = { throttleTimeMs: 0 };
    applyRequestQuota(m, conn, 'app', api, version, req, res, 1000);
    expect(res.throttleTimeMs).toBe(0);
  }
  applyRequestQuota(m, conn, 'other-app', ApiKey.Metadata, 12, {}, { throttleTimeMs: 0 }, 1000);
  expect(conn.throttles).toEqual([]);
  // A consumer's fetch counts.
  const fetch = { throttleTimeMs: 0 };
  applyRequestQuota(m, conn, 'app', ApiKey.Fetch, 15, { replicaState: { replicaId: -1 } }, fetch, 1000);
  expect(fetch.throttleTimeMs).toBeGreaterThan(0);
});

test('an answer without a throttle field (or no answer) still mutes the connection', () => {
  const m = overQuota();
  const conn = connection();
  applyRequestQuota(m, conn, 'app', ApiKey.ApiVersions, 0, {}, { errorCode: 0, apiKeys: [] }, 1000);
  applyRequestQuota(m, conn, 'app', ApiKey.Produce, 9, { acks: 1 }, null, 1000);
  expect(conn.throttles.length).toBe(2);
});
