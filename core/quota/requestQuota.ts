import { ApiKey } from '../protocol/generated/index';
import type { ConnectionInfo } from '../broker/server';
import type { QuotaManager, QuotaType } from './quotaManager';

/**
 * Applying a throttle, and request_percentage for every request: Kafka's
 * ClientRequestQuotaManager records the time a request spent on the broker's threads; Strata
 * records the time from decoding it to its handler's first wait, on the event loop (for Produce
 * the appends, for most requests all of their work; waits in purgatories, for the store or for
 * replicas cost nothing, as in Kafka, but neither does work done after a wait, e.g. a fetch's
 * reads of further partitions: an approximation). Exempt, as in Kafka: requests between brokers
 * (cluster actions, followers' fetches) and Produce with acks=0, which has no answer to carry a
 * throttle time (its byte rate is still enforced, by muting).
 */

/** Kafka's cluster-action APIs, exempt from request quotas. */
const EXEMPT_APIS: ReadonlySet<number> = new Set([ApiKey.LeaderAndIsr, ApiKey.StopReplica, ApiKey.UpdateMetadata, ApiKey.ControlledShutdown, ApiKey.WriteTxnMarkers, ApiKey.BrokerHeartbeat]);

/** Who a request's quotas are kept for: its connection's user and its client id. */
export function quotaIdentity(conn: ConnectionInfo, clientId: string | null): { user: string; clientId: string } {
  return { user: conn.principal.name, clientId: clientId ?? '' };
}

function exempt(apiKey: number, version: number, req: unknown): boolean {
  if (EXEMPT_APIS.has(apiKey)) return true;
  const r = req as { acks?: number; replicaId?: number; replicaState?: { replicaId?: number } | null };
  if (apiKey === ApiKey.Produce) return r.acks === 0;
  if (apiKey === ApiKey.Fetch) return (version >= 15 ? (r.replicaState?.replicaId ?? -1) : (r.replicaId ?? -1)) >= 0;
  // v4+ is sent by brokers only (KIP-890's verification).
  if (apiKey === ApiKey.AddPartitionsToTxn) return version >= 4;
  return false;
}

/**
 * Gives the connection a throttle of `ms` for `type` (the answer carries it; the connection reads
 * nothing more until it has passed) and counts it for the metrics.
 */
export function throttleConnection(quotas: QuotaManager, type: QuotaType, conn: ConnectionInfo, who: { user: string; clientId: string }, ms: number): void {
  if (!(ms > 0)) return;
  quotas.noteThrottle(type, who.user, who.clientId, ms);
  conn.throttle(ms);
}

/**
 * Records `elapsedMs` of request time against request_percentage and, when over the quota,
 * throttles the connection and raises the answer's throttle_time_ms to the throttle time (an
 * answer whose version has no such field goes out unchanged, as Kafka's).
 */
export function applyRequestQuota(quotas: QuotaManager, conn: ConnectionInfo, clientId: string | null, apiKey: number, version: number, req: unknown, res: unknown, elapsedMs: number): void {
  if (!quotas.enabled('request') || exempt(apiKey, version, req)) return;
  const who = quotaIdentity(conn, clientId);
  // Percent of one second: 10 ms of a request is 1 (Kafka's nanosToPercentage).
  const ms = quotas.record('request', who.user, who.clientId, elapsedMs / 10, Date.now());
  if (ms <= 0) return;
  throttleConnection(quotas, 'request', conn, who, ms);
  const body = res as { throttleTimeMs?: unknown } | null;
  if (body !== null && typeof body === 'object' && typeof body.throttleTimeMs === 'number') body.throttleTimeMs = Math.max(body.throttleTimeMs, ms);
}
