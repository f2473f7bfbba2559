import { StrataError } from '../common/errors';
import { ErrorCode } from '../protocol/errorCodes';
import { ConfigResourceType, type StrataClient } from '../client/client';
import { readCommitted } from '../client/readCommitted';
import { isKafkaError } from '../client/errors';
import { MIRROR_SOURCE_CLUSTER_CONFIG, offsetSyncsTopic, targetTopicName, type TopicNaming } from './naming';
import { type OffsetSync, decodeOffsetSync, lastMirroredSourceOffset, offsetSyncKey, translateOffset } from './offsetSyncs';

/**
 * Checkpoints, done on demand: a consumer group's committed offsets on the source, turned
 * into positions on the target (`strata mirror --translate-offsets`), and with --execute
 * committed there for the same group, so its consumers can fail over to the target region
 * and resume with no gap and no repeat.
 *
 *   normal mode            through the offset syncs (offsetSyncs.ts: translateOffset), read
 *                          read_committed from the target's syncs topic
 *   offset-preserving      1:1 — detected per target topic by its mirror.source.cluster config,
 *                          or forced (after promotion the config is gone) with offsetPreserving
 */

export interface OffsetTranslation {
  /** Source topic and partition. */
  topic: string;
  partition: number;
  /** The group's committed offset on the source. */
  sourceOffset: bigint;
  targetTopic: string;
  /** The group's position on the target; null when there is none to give (nothing mirrored). */
  targetOffset: bigint | null;
  how: 'offset-syncs' | 'same-offsets' | 'not-mirrored';
  note?: string;
}

/** Reads every committed sync of the syncs topic (read_committed: never an aborted attempt's), by `<topic>:<partition>`. */
export async function readOffsetSyncs(target: StrataClient, alias: string): Promise<{ syncs: Map<string, OffsetSync[]>; unreadable: number }> {
  const syncs = new Map<string, OffsetSync[]>();
  let unreadable = 0;
  let records;
  try {
    records = await readCommitted(target, offsetSyncsTopic(alias), 0, { maxBytes: 4 * 1024 * 1024 });
  } catch (err) {
    if (isKafkaError(err, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) return { syncs, unreadable };
    throw err;
  }
  for (const rec of records) {
    try {
      const s = decodeOffsetSync(rec.value);
      const key = offsetSyncKey(s.topic, s.partition);
      syncs.set(key, [...(syncs.get(key) ?? []), s]);
    } catch {
      unreadable++;
    }
  }
  return { syncs, unreadable };
}

export interface TranslateOptions {
  source: StrataClient;
  target: StrataClient;
  sourceAlias: string;
  naming: TopicNaming;
  /** The consumer group to translate (the same id on both clusters). */
  group: string;
  /** Copy offsets 1:1 for every topic, whatever its config says (offset-preserving mirrors, promoted ones included). */
  offsetPreserving?: boolean;
}

/** The group's committed source offsets and their target positions, sorted by topic and partition. */
export async function translateGroupOffsets(o: TranslateOptions): Promise<OffsetTranslation[]> {
  const committed = await o.source.offsetFetch(o.group, null);
  if (committed.length === 0) return [];
  const syncs = committed.length > 0 && !o.offsetPreserving ? (await readOffsetSyncs(o.target, o.sourceAlias)).syncs : new Map<string, OffsetSync[]>();
  const modes = new Map<string, 'missing' | 'same-offsets' | 'offset-syncs'>();
  const out: OffsetTranslation[] = [];
  for (const c of committed) {
    const targetTopic = targetTopicName(c.topic, o.sourceAlias, o.naming);
    let mode = modes.get(targetTopic);
    if (mode === undefined) {
      mode = await targetMode(o.target, targetTopic, o.sourceAlias, o.offsetPreserving ?? false);
      modes.set(targetTopic, mode);
    }
    const row = { topic: c.topic, partition: c.partition, sourceOffset: c.offset, targetTopic };
    if (mode === 'missing') {
      out.push({ ...row, targetOffset: null, how: 'not-mirrored', note: `target topic '${targetTopic}' does not exist` });
    } else if (mode === 'same-offsets') {
      out.push({ ...row, targetOffset: c.offset, how: 'same-offsets' });
    } else {
      const list = syncs.get(offsetSyncKey(c.topic, c.partition)) ?? [];
      const targetOffset = translateOffset(list, c.offset);
      if (targetOffset === null) {
        out.push({ ...row, targetOffset: null, how: 'not-mirrored', note: 'no offset syncs: nothing of this partition is mirrored yet' });
        continue;
      }
      const last = lastMirroredSourceOffset(list)!;
      const note = c.offset > last + 1n ? `mirrored up to source offset ${last} so far` : undefined;
      out.push({ ...row, targetOffset, how: 'offset-syncs', ...(note ? { note } : {}) });
    }
  }
  return out;
}

async function targetMode(target: StrataClient, topic: string, alias: string, forceSame: boolean): Promise<'missing' | 'same-offsets' | 'offset-syncs'> {
  let mirrorOf: string;
  try {
    const [entry] = await target.describeConfigs({ type: ConfigResourceType.TOPIC, name: topic }, [MIRROR_SOURCE_CLUSTER_CONFIG]);
    mirrorOf = entry?.value ?? '';
  } catch (err) {
    if (isKafkaError(err, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) return 'missing';
    throw err;
  }
  return forceSame || mirrorOf === alias ? 'same-offsets' : 'offset-syncs';
}

/**
 * Commits translated offsets for `group` on the target (an admin commit, as
 * `kafka-consumer-groups --reset-offsets --execute`). The group must have no active members
 * there: a live member's next commit would overwrite these, so that is refused up front.
 * Returns how many offsets were committed.
 */
export async function applyGroupOffsets(target: StrataClient, group: string, rows: readonly OffsetTranslation[]): Promise<number> {
  const [d] = await target.describeGroups([group]);
  if (d && d.members.length > 0) {
    throw new StrataError(
      'INPUT_INVALID',
      `consumer group '${group}' has ${d.members.length} active member(s) on the target cluster (state ${d.state}); offsets can only be set while it has none: stop its consumers in the target region first`,
    );
  }
  const offsets = rows.filter((r) => r.targetOffset !== null).map((r) => ({ topic: r.targetTopic, partition: r.partition, offset: r.targetOffset! }));
  await target.offsetCommit(group, offsets);
  return offsets.length;
}
