import type { FetchRequest } from '../protocol/generated/FetchRequest';
import type { ProduceRequest } from '../protocol/generated/ProduceRequest';
import type { RequestContext } from '../broker/handlers/types';
import { quotaIdentity, throttleConnection } from './requestQuota';

/**
 * producer_byte_rate and consumer_byte_rate at the Produce and Fetch handlers, as KafkaApis
 * applies them: the bytes are recorded, and a client over its quota gets the throttle time in
 * its answer and its connection muted for it. Produce records the records' bytes of the request
 * (Kafka counts the whole request; the headers are a few dozen bytes) after the append, acks=0
 * included (no answer, but the mute). A throttled Fetch is answered without records and its
 * bytes are taken back (Kafka's unrecordQuotaSensor), and no fetch asks for more than the quota
 * allows in a window (fetchMaxBytes). Followers' fetches (replica id ≥ 0) are not client traffic.
 */

/** Records a Produce request's bytes; returns the throttle time (ms, 0 within the quota), the connection already muted for it. */
export function throttleProduce(req: ProduceRequest, ctx: RequestContext): number {
  const quotas = ctx.broker.quotas;
  if (quotas === undefined || !quotas.enabled('produce')) return 0;
  let bytes = 0;
  for (const td of req.topicData) for (const pd of td.partitionData) bytes += pd.records?.length ?? 0;
  const who = quotaIdentity(ctx.conn, ctx.header.clientId);
  const ms = quotas.record('produce', who.user, who.clientId, bytes, Date.now());
  throttleConnection(quotas, 'produce', ctx.conn, who, ms);
  return ms;
}

/** The most record bytes a consumer's fetch may return: Kafka's getMaxValueInQuotaWindow; Infinity without a quota, and for followers. */
export function fetchMaxBytes(req: FetchRequest, ctx: RequestContext): number {
  const quotas = ctx.broker.quotas;
  if (quotas === undefined || !quotas.enabled('fetch')) return Infinity;
  const replicaId = ctx.version >= 15 ? (req.replicaState?.replicaId ?? -1) : (req.replicaId ?? -1);
  if (replicaId >= 0) return Infinity;
  const who = quotaIdentity(ctx.conn, ctx.header.clientId);
  return Math.floor(quotas.maxValueInWindow('fetch', who.user, who.clientId));
}

/**
 * Records a consumer fetch's bytes; over the quota, takes them back, mutes the connection and
 * returns the throttle time: the caller then answers without records.
 */
export function throttleFetch(bytes: number, ctx: RequestContext): number {
  const quotas = ctx.broker.quotas;
  if (quotas === undefined || !quotas.enabled('fetch')) return 0;
  const who = quotaIdentity(ctx.conn, ctx.header.clientId);
  const now = Date.now();
  const ms = quotas.record('fetch', who.user, who.clientId, bytes, now);
  if (ms <= 0) return 0;
  quotas.unrecord('fetch', who.user, who.clientId, bytes, now);
  throttleConnection(quotas, 'fetch', ctx.conn, who, ms);
  return ms;
}
