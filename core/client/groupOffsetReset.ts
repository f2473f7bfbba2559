import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, StrataClient, TopicPartitionRef } from './client';
import { KafkaResponseError } from './errors';

/**
 * Planning a consumer group's offset reset, as kafka-consumer-groups.sh --reset-offsets
 * does it: where each partition's committed offset should go for one reset specification.
 * Planning only reads (OffsetFetch, Metadata, ListOffsets); committing the plan is the
 * caller's choice (the CLI's dry run is the default).
 *
 * Kafka's rules, kept:
 * - --to-offset and --shift-by land inside the log: clamped to [log start, log end];
 * - --to-current keeps committed offsets and puts partitions without one at the log end;
 * - --shift-by needs a committed offset to shift from;
 * - --to-datetime / --by-duration use ListOffsets by timestamp (the first offset whose record
 *   time is at or after it); a partition with no such record falls back to the log end, with
 *   Kafka's warning.
 */

export type ResetSpec =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'current' }
  | { kind: 'offset'; offset: bigint }
  | { kind: 'shift'; by: bigint }
  /** Milliseconds since the epoch (--to-datetime, or now − duration for --by-duration). */
  | { kind: 'timestamp'; timestampMs: bigint };

export interface ResetPlanRow extends TopicPartitionRef {
  /** The committed offset before the reset; null when the partition had none. */
  previous: bigint | null;
  next: bigint;
}

export interface ResetPlan {
  rows: ResetPlanRow[];
  /** Kafka's "Warn: ..." lines (e.g. a partition without records after the timestamp). */
  warnings: string[];
  /**
   * Kafka's logged warnings (stderr) for targets outside the log: "New offset (N) is higher than
   * latest offset for topic partition T-P. Value will be set to E" (or lower than earliest).
   */
  clamped: string[];
}

/**
 * The new offset of every partition in `partitions` (sorted by topic, partition). Throws
 * StrataError TOPIC_NOT_FOUND for partitions that do not exist (Kafka checks them all first)
 * and INPUT_INVALID for a shift without a committed offset.
 */
export async function planOffsetReset(client: StrataClient, groupId: string, partitions: TopicPartitionRef[], spec: ResetSpec): Promise<ResetPlan> {
  const sorted = dedupe(partitions);
  await checkPartitionsExist(client, sorted);
  const committed = new Map((await client.offsetFetch(groupId, null)).map((c) => [tpKey(c), c.offset]));
  const warnings: string[] = [];
  const clamped: string[] = [];
  const listed = (ts: bigint) => Promise.all(sorted.map((tp) => client.listOffsets(tp.topic, tp.partition, ts).then((r) => r.offset)));
  let next: bigint[];
  switch (spec.kind) {
    case 'earliest':
      next = await listed(EARLIEST_TIMESTAMP);
      break;
    case 'latest':
      next = await listed(LATEST_TIMESTAMP);
      break;
    case 'current': {
      const ends = await listed(LATEST_TIMESTAMP);
      next = sorted.map((tp, i) => committed.get(tpKey(tp)) ?? ends[i]);
      break;
    }
    case 'offset':
      next = await clamp(client, sorted, sorted.map(() => spec.offset), clamped);
      break;
    case 'shift': {
      const wanted = sorted.map((tp) => {
        const current = committed.get(tpKey(tp));
        if (current === undefined) {
          throw new StrataError('INPUT_INVALID', `Cannot shift offset for partition ${tp.topic}-${tp.partition} since there is no current committed offset`);
        }
        return current + spec.by;
      });
      next = await clamp(client, sorted, wanted, clamped);
      break;
    }
    case 'timestamp': {
      const found = await listed(spec.timestampMs);
      const ends = await listed(LATEST_TIMESTAMP);
      next = found.map((offset, i) => {
        if (offset >= 0n) return offset;
        warnings.push(`Warn: Partition ${sorted[i].partition} from topic ${sorted[i].topic} is empty. Falling back to latest known offset.`);
        return ends[i];
      });
      break;
    }
  }
  return { rows: sorted.map((tp, i) => ({ ...tp, previous: committed.get(tpKey(tp)) ?? null, next: next[i] })), warnings, clamped };
}

/**
 * Kafka's checkOffsetsRange: an offset past the log end goes to the end, one before the log
 * start to the start, each with Kafka's warning added to `notices`.
 */
async function clamp(client: StrataClient, partitions: TopicPartitionRef[], wanted: bigint[], notices: string[]): Promise<bigint[]> {
  const [starts, ends] = await Promise.all([
    Promise.all(partitions.map((tp) => client.listOffsets(tp.topic, tp.partition, EARLIEST_TIMESTAMP).then((r) => r.offset))),
    Promise.all(partitions.map((tp) => client.listOffsets(tp.topic, tp.partition, LATEST_TIMESTAMP).then((r) => r.offset))),
  ]);
  return wanted.map((o, i) => {
    const tp = `${partitions[i].topic}-${partitions[i].partition}`;
    if (o > ends[i]) {
      notices.push(`New offset (${o}) is higher than latest offset for topic partition ${tp}. Value will be set to ${ends[i]}`);
      return ends[i];
    }
    if (o < starts[i]) {
      notices.push(`New offset (${o}) is lower than earliest offset for topic partition ${tp}. Value will be set to ${starts[i]}`);
      return starts[i];
    }
    return o;
  });
}

async function checkPartitionsExist(client: StrataClient, partitions: TopicPartitionRef[]): Promise<void> {
  const topics = [...new Set(partitions.map((tp) => tp.topic))];
  if (topics.length === 0) return;
  const md = await client.metadata(topics);
  const missing = partitions.filter((tp) => !(md.topics.get(tp.topic)?.partitions.some((p) => p.partition === tp.partition) ?? false));
  if (missing.length > 0) {
    throw new StrataError('TOPIC_NOT_FOUND', `The partitions "${missing.map((tp) => `${tp.topic}-${tp.partition}`).join(',')}" do not exist`);
  }
}

/**
 * `--topic` values to partitions: 'T' is every partition of T, 'T:0,2' those listed (Kafka's
 * syntax). Throws KafkaResponseError UNKNOWN_TOPIC_OR_PARTITION for a whole topic that does not
 * exist, INPUT_INVALID for a malformed value.
 */
export async function resolveTopicArgs(client: StrataClient, args: string[]): Promise<TopicPartitionRef[]> {
  const out: TopicPartitionRef[] = [];
  const whole: string[] = [];
  for (const arg of args) {
    const parsed = parseTopicArg(arg);
    if (parsed.partitions === null) whole.push(parsed.topic);
    else for (const partition of parsed.partitions) out.push({ topic: parsed.topic, partition });
  }
  if (whole.length > 0) {
    const md = await client.metadata(whole);
    for (const topic of whole) {
      const info = md.topics.get(topic);
      if (!info) throw new KafkaResponseError(md.topicErrors.get(topic) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, { api: 'Metadata', resource: `topic '${topic}'` });
      for (const p of info.partitions) out.push({ topic, partition: p.partition });
    }
  }
  return dedupe(out);
}

/** 'T' → all partitions (null); 'T:0,1,2' → those. */
export function parseTopicArg(arg: string): { topic: string; partitions: number[] | null } {
  const colon = arg.indexOf(':');
  if (colon < 0) {
    if (arg.length === 0) throw new StrataError('INPUT_INVALID', 'a --topic value must not be empty');
    return { topic: arg, partitions: null };
  }
  const topic = arg.slice(0, colon);
  const list = arg.slice(colon + 1);
  if (topic.length === 0 || list.length === 0 || list.includes(':')) {
    throw new StrataError('INPUT_INVALID', `Invalid topic arg '${arg}', expected topic name and partitions`);
  }
  const partitions = list.split(',').map((p) => {
    if (!/^\d+$/.test(p.trim()) || Number(p) > 2 ** 31 - 1) throw new StrataError('INPUT_INVALID', `Invalid partition '${p}' specified in topic arg '${arg}'`);
    return Number(p);
  });
  return { topic, partitions };
}

/**
 * Kafka's --to-datetime format: 'YYYY-MM-DDTHH:mm:SS.sss', optionally followed by a zone
 * ('Z', '+HH', '+HHMM', '+HH:MM' or '-'); without a zone the time is UTC, as Kafka reads it.
 * The milliseconds may be left out. Returns milliseconds since the epoch; throws
 * INPUT_INVALID naming the expected format.
 */
export function parseDateTime(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(text.trim());
  const bad = (): StrataError => new StrataError('INPUT_INVALID', `'${text}' is not a date-time in the format YYYY-MM-DDTHH:mm:SS.sss (optionally with a zone: Z, +HH:MM, -HHMM)`);
  if (!m) throw bad();
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0'));
  // Before 1970 nothing has a Kafka timestamp (and Date.UTC reads years 0-99 as 19xx).
  if (year < 1970) throw bad();
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) throw bad();
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const h = Number(digits.slice(0, 2));
    const min = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (h > 18 || min > 59) throw bad();
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (h * 60 + min);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

/**
 * An ISO-8601 duration as Java's Duration.parse reads it — PnDTnHnMn.nS, each part optional
 * but at least one present, signs allowed (e.g. 'PT30M', 'P1DT12H', 'PT0.5S') — in
 * milliseconds (fractions below a millisecond are dropped). Throws INPUT_INVALID.
 */
export function parseIsoDuration(text: string): bigint {
  const m = /^([-+]?)P(?:([-+]?\d+)D)?(T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?$/i.exec(text.trim());
  const bad = (): StrataError => new StrataError('INPUT_INVALID', `'${text}' is not an ISO-8601 duration like PnDTnHnMnS (e.g. PT30M, P1DT12H)`);
  if (!m) throw bad();
  const [, sign, days, tPart, hours, minutes, seconds, fraction] = m;
  if (days === undefined && tPart === undefined) throw bad();
  if (tPart !== undefined && hours === undefined && minutes === undefined && seconds === undefined) throw bad();
  const n = (s: string | undefined): bigint => (s === undefined ? 0n : BigInt(s));
  let ms = n(days) * 86_400_000n + n(hours) * 3_600_000n + n(minutes) * 60_000n + n(seconds) * 1000n;
  if (fraction) {
    // The fraction takes the seconds' sign, as in Java ('PT-1.5S' is minus 1.5 seconds).
    const fracMs = BigInt(fraction.padEnd(3, '0').slice(0, 3));
    ms += seconds?.startsWith('-') ? -fracMs : fracMs;
  }
  return sign === '-' ? -ms : ms;
}

function tpKey(tp: TopicPartitionRef): string {
  return `${tp.topic}\u0000${tp.partition}`;
}

function dedupe(partitions: TopicPartitionRef[]): TopicPartitionRef[] {
  const seen = new Map<string, TopicPartitionRef>();
  for (const tp of partitions) seen.set(tpKey(tp), { topic: tp.topic, partition: tp.partition });
  return [...seen.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
}
