import type { FetchedRecord } from '../client/records';
import { MirrorEventError, type PoisonRecord } from './errors';

/**
 * The self-managed Apache Kafka event Lambda's event source hands the mirror (AWS's "Using
 * Lambda with self-managed Apache Kafka"; MSK's `aws:kafka` event has the same records):
 *
 *   { "eventSource": "SelfManagedKafka", "bootstrapServers": "h1:9092,h2:9092",
 *     "records": { "orders-0": [ { "topic": "orders", "partition": 0, "offset": 15,
 *         "timestamp": 1545084650987, "timestampType": "CREATE_TIME",
 *         "key": "a2V5", "value": "dmFsdWU=",                        base64; absent or null = null
 *         "headers": [ { "trace": [104, 105] } ] } ] } }             header values as byte arrays
 *
 * Parsing is strict, per record: a record that does not have this shape is a poison record.
 * Its partition keeps the records before it (they are mirrored, in order) and loses it and
 * everything after it for this invocation, since mirroring past it would reorder or drop; the
 * other partitions are unaffected. Only a malformed envelope (no `records` object, an
 * unknown eventSource, a "topic-partition" key that is not one) fails the whole event.
 */

/** A record to mirror: the client's fetched-record shape (bigint offset and timestamp, bytes). */
export type MirrorRecord = FetchedRecord;

/** One source partition's records in an event, offsets rising. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  records: MirrorRecord[];
}

export interface ParsedMirrorEvent {
  /** The source cluster's bootstrap servers as the event names them (empty when absent). */
  sourceBootstrapServers: string[];
  batches: PartitionBatch[];
  /** At most one per partition: the first record of it that could not be parsed. */
  poison: PoisonRecord[];
}

const EVENT_SOURCES = ['SelfManagedKafka', 'aws:kafka'];
const TIMESTAMP_TYPES: Record<string, MirrorRecord['timestampType']> = {
  CREATE_TIME: 'CreateTime',
  LOG_APPEND_TIME: 'LogAppendTime',
  // Kafka's NO_TIMESTAMP_TYPE (records of message format v0): the timestamp is -1 anyway.
  NO_TIMESTAMP_TYPE: 'CreateTime',
};
const MAX_OFFSET = 2n ** 63n - 1n;
const MAX_PARTITION = 2 ** 31 - 1;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A record that is not what the event format promises: becomes a PoisonRecord with `message`. */
class RecordInvalid extends Error {}

/** Parses a Lambda Kafka event. Throws MirrorEventError for a malformed envelope; poison records are returned. */
export function parseMirrorEvent(raw: unknown): ParsedMirrorEvent {
  if (!isObject(raw)) throw new MirrorEventError(`expected an object, got ${describe(raw)}`);
  if (typeof raw.eventSource !== 'string' || !EVENT_SOURCES.includes(raw.eventSource)) {
    throw new MirrorEventError(`eventSource must be ${EVENT_SOURCES.map((s) => `'${s}'`).join(' or ')}, got ${describe(raw.eventSource)}`);
  }
  if (raw.bootstrapServers !== undefined && typeof raw.bootstrapServers !== 'string') {
    throw new MirrorEventError(`bootstrapServers must be a string, got ${describe(raw.bootstrapServers)}`);
  }
  if (!isObject(raw.records)) throw new MirrorEventError(`records must be an object of "topic-partition" keys, got ${describe(raw.records)}`);
  const sourceBootstrapServers = splitServers(raw.bootstrapServers ?? '');
  const batches: PartitionBatch[] = [];
  const poison: PoisonRecord[] = [];
  const seen = new Set<string>();
  for (const [key, list] of Object.entries(raw.records)) {
    const { topic, partition } = parsePartitionKey(key);
    const id = `${partition}:${topic}`;
    if (seen.has(id)) throw new MirrorEventError(`partition ${topic}-${partition} is listed under two keys`);
    seen.add(id);
    if (!Array.isArray(list)) throw new MirrorEventError(`records["${key}"] must be an array, got ${describe(list)}`);
    const records: MirrorRecord[] = [];
    for (let i = 0; i < list.length; i++) {
      const r: unknown = list[i];
      try {
        const rec = parseRecord(r, topic, partition);
        const prev = records[records.length - 1];
        if (prev && rec.offset <= prev.offset) throw new RecordInvalid(`offset ${rec.offset} does not follow the previous record's offset ${prev.offset} (records of a partition must come in offset order)`);
        records.push(rec);
      } catch (err) {
        if (!(err instanceof RecordInvalid)) throw err;
        const offset = isObject(r) && (typeof r.offset === 'number' || typeof r.offset === 'string') ? String(r.offset) : '?';
        poison.push({ topic, partition, offset, reason: err.message });
        break;
      }
    }
    if (records.length > 0) batches.push({ topic, partition, records });
  }
  return { sourceBootstrapServers, batches, poison };
}

/** 'my-topic-12' → my-topic, 12 (topic names may contain '-': the partition is after the last one). */
export function parsePartitionKey(key: string): { topic: string; partition: number } {
  const dash = key.lastIndexOf('-');
  const digits = key.slice(dash + 1);
  if (dash <= 0 || !/^(0|[1-9]\d*)$/.test(digits) || Number(digits) > MAX_PARTITION) {
    throw new MirrorEventError(`records key '${key}' is not "<topic>-<partition>"`);
  }
  return { topic: key.slice(0, dash), partition: Number(digits) };
}

function parseRecord(r: unknown, topic: string, partition: number): MirrorRecord {
  if (!isObject(r)) throw new RecordInvalid(`expected a record object, got ${describe(r)}`);
  if (r.topic !== topic) throw new RecordInvalid(`its topic ${describe(r.topic)} is not the key's '${topic}'`);
  if (r.partition !== partition) throw new RecordInvalid(`its partition ${describe(r.partition)} is not the key's ${partition}`);
  const offset = integer(r.offset, 'offset', 0n);
  const timestamp = integer(r.timestamp, 'timestamp', -1n);
  const timestampType = typeof r.timestampType === 'string' ? TIMESTAMP_TYPES[r.timestampType] : undefined;
  if (timestampType === undefined) throw new RecordInvalid(`timestampType must be CREATE_TIME or LOG_APPEND_TIME, got ${describe(r.timestampType)}`);
  return {
    offset,
    timestamp,
    timestampType,
    key: bytesOf(r.key, 'key'),
    value: bytesOf(r.value, 'value'),
    headers: headersOf(r.headers),
  };
}

/** An integer field: a JSON number that is a safe integer, or a string of digits (exact past 2^53). */
function integer(v: unknown, what: string, min: bigint): bigint {
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RecordInvalid(`${what} must be an integer (exactly representable), got ${describe(v)}`);
    n = BigInt(v);
  } else if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    n = BigInt(v);
  } else {
    throw new RecordInvalid(`${what} must be an integer, got ${describe(v)}`);
  }
  if (n < min || n > MAX_OFFSET) throw new RecordInvalid(`${what} ${n} is out of range (${min} to 2^63-1)`);
  return n;
}

/** A base64 key or value; absent or null is a null key or value. */
function bytesOf(v: unknown, what: string): Buffer | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new RecordInvalid(`${what} must be a base64 string or null, got ${describe(v)}`);
  if (!BASE64.test(v)) throw new RecordInvalid(`${what} is not valid base64`);
  return Buffer.from(v, 'base64');
}

/**
 * Headers: an array of one-key objects, { "name": [bytes] }, in record order. Bytes may come
 * signed (-128..127, as a Java byte[] serializes) or unsigned (0..255); null is a null value.
 */
function headersOf(v: unknown): MirrorRecord['headers'] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new RecordInvalid(`headers must be an array, got ${describe(v)}`);
  const out: MirrorRecord['headers'] = [];
  v.forEach((h: unknown, i) => {
    if (!isObject(h) || Object.keys(h).length === 0) throw new RecordInvalid(`headers[${i}] must be an object {"name": [bytes]}, got ${describe(h)}`);
    for (const [key, bytes] of Object.entries(h)) {
      if (bytes === null) {
        out.push({ key, value: null });
        continue;
      }
      if (!Array.isArray(bytes) || !bytes.every((b) => Number.isInteger(b) && b >= -128 && b <= 255)) {
        throw new RecordInvalid(`header '${key}' must be an array of bytes, got ${describe(bytes)}`);
      }
      out.push({ key, value: Buffer.from(bytes.map((b: number) => b & 0xff)) });
    }
  });
  return out;
}

/**
 * The event Lambda would deliver for these records: what tests and tools use to feed the
 * mirror from real fetches. Offsets and timestamps are JSON numbers, as Lambda sends them.
 */
export function toMirrorEvent(bootstrapServers: string, partitions: ReadonlyArray<{ topic: string; partition: number; records: readonly FetchedRecord[] }>): SelfManagedKafkaEventJson {
  const records: SelfManagedKafkaEventJson['records'] = {};
  for (const p of partitions) {
    records[`${p.topic}-${p.partition}`] = p.records.map((r) => ({
      topic: p.topic,
      partition: p.partition,
      offset: Number(r.offset),
      timestamp: Number(r.timestamp),
      timestampType: r.timestampType === 'LogAppendTime' ? 'LOG_APPEND_TIME' : 'CREATE_TIME',
      ...(r.key === null ? {} : { key: r.key.toString('base64') }),
      ...(r.value === null ? {} : { value: r.value.toString('base64') }),
      headers: r.headers.map((h) => ({ [h.key]: h.value === null ? null : [...h.value] })),
    }));
  }
  return { eventSource: 'SelfManagedKafka', bootstrapServers, records };
}

export interface SelfManagedKafkaEventJson {
  eventSource: 'SelfManagedKafka';
  bootstrapServers: string;
  records: Record<
    string,
    Array<{
      topic: string;
      partition: number;
      offset: number;
      timestamp: number;
      timestampType: 'CREATE_TIME' | 'LOG_APPEND_TIME';
      key?: string;
      value?: string;
      headers: Array<Record<string, number[] | null>>;
    }>
  >;
}

export function splitServers(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return v.length > 40 ? `'${v.slice(0, 40)}…'` : `'${v}'`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}
