/**
 * The consumer protocol's two "data" messages as they travel inside the group APIs: JoinGroup's
 * per-protocol member metadata is a ConsumerProtocolSubscription, SyncGroup's assignment a
 * ConsumerProtocolAssignment, each serialised as an int16 version followed by the struct.
 *
 * The coordinator itself treats both as opaque bytes (range, roundrobin, sticky and
 * cooperative-sticky assignors all pass through unchanged); it decodes subscriptions only to
 * learn which topics a consumer group reads (OffsetDelete, offset expiration), as Kafka does.
 * Clients decode assignments with the same functions.
 *
 * Versions: a newer version than the schema knows is read with the newest known layout (the
 * schema promises that later versions only append fields), and trailing bytes are ignored.
 */
import { Reader } from '../protocol/reader';
import { Writer } from '../protocol/writer';
import { ProtocolDecodeError } from '../protocol/reader';
import {
  readConsumerProtocolSubscription,
  writeConsumerProtocolSubscription,
  type ConsumerProtocolSubscription,
} from '../protocol/generated/ConsumerProtocolSubscription';
import {
  readConsumerProtocolAssignment,
  writeConsumerProtocolAssignment,
  type ConsumerProtocolAssignment,
} from '../protocol/generated/ConsumerProtocolAssignment';

export type { ConsumerProtocolSubscription, ConsumerProtocolAssignment };

/** The protocol type consumers put in JoinGroup; only such groups have decodable metadata. */
export const CONSUMER_PROTOCOL_TYPE = 'consumer';

/** Highest version of either message this build knows (the schemas' validVersions 0-3). */
export const CONSUMER_PROTOCOL_MAX_VERSION = 3;

function readVersion(r: Reader): number {
  const version = r.int16();
  if (version < 0) throw new ProtocolDecodeError(`consumer protocol version ${version} is negative`);
  return Math.min(version, CONSUMER_PROTOCOL_MAX_VERSION);
}

export function decodeSubscription(bytes: Buffer): { version: number; subscription: ConsumerProtocolSubscription } {
  const r = new Reader(bytes);
  const version = readVersion(r);
  return { version, subscription: readConsumerProtocolSubscription(r, version) };
}

export function encodeSubscription(version: number, subscription: ConsumerProtocolSubscription): Buffer {
  const w = new Writer(64);
  w.writeInt16(version);
  writeConsumerProtocolSubscription(w, version, subscription);
  return w.toBuffer();
}

export function decodeAssignment(bytes: Buffer): { version: number; assignment: ConsumerProtocolAssignment } {
  const r = new Reader(bytes);
  const version = readVersion(r);
  return { version, assignment: readConsumerProtocolAssignment(r, version) };
}

export function encodeAssignment(version: number, assignment: ConsumerProtocolAssignment): Buffer {
  const w = new Writer(64);
  w.writeInt16(version);
  writeConsumerProtocolAssignment(w, version, assignment);
  return w.toBuffer();
}

/**
 * Only the subscribed topics, read with the version-0 layout whatever the version says, as
 * Kafka's coordinator does: every version starts with the v0 fields, so this reading cannot
 * trip over a client that writes a version's number but not all of its later fields.
 * Throws ProtocolDecodeError on malformed bytes.
 */
export function subscribedTopics(bytes: Buffer): string[] {
  const r = new Reader(bytes);
  readVersion(r);
  return readConsumerProtocolSubscription(r, 0).topics;
}
