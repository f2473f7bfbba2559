import { ErrorCode } from '../protocol/errorCodes';
import { ConfigResourceType, ConfigSource, type ConfigEntry, type StrataClient } from '../client/client';
import { isKafkaError } from '../client/errors';
import { isTopicConfigName } from '../config/topicConfig';
import { MirrorTargetError } from './errors';
import { MIRROR_SOURCE_CLUSTER_CONFIG } from './naming';

/**
 * Target topics: created when missing, with the source topic's partition count and its
 * explicitly set topic configs, partitions one to one (source partition p → target p).
 *
 * Configs NOT copied, each for a reason:
 *   message.timestamp.type                    the mirror keeps the source's timestamps; a
 *                                             LogAppendTime target would overwrite them
 *   message.timestamp.difference.max.ms,      old records (a backlog, a retry) must not be refused
 *   message.timestamp.before.max.ms,          for their age
 *   message.timestamp.after.max.ms
 *   min.insync.replicas,                      durability is the target cluster's policy
 *   unclean.leader.election.enable
 *   leader/follower.replication.throttled.replicas   name the source's broker ids
 *   remote.storage.enable, local.retention.ms,       tiering is the target deployment's choice
 *   local.retention.bytes
 *   message.format.version, message.downconversion.enable   deprecated, per-broker
 *   mirror.source.cluster                     the source's own mirror marker (the offset-preserving
 *                                             mode sets its own alias instead)
 *   anything Strata does not know             (a Kafka distribution's own configs): reported in the log
 *
 * When the target topic is missing and the source cannot be read (no bootstrap servers, no
 * credentials, unreachable), the batch fails with an error saying so: guessing the partition
 * count from the partitions seen would create a topic that no longer maps one to one.
 */
export const NOT_COPIED_CONFIGS: readonly string[] = [
  'message.timestamp.type',
  'message.timestamp.difference.max.ms',
  'message.timestamp.before.max.ms',
  'message.timestamp.after.max.ms',
  'min.insync.replicas',
  'unclean.leader.election.enable',
  'leader.replication.throttled.replicas',
  'follower.replication.throttled.replicas',
  'remote.storage.enable',
  'local.retention.ms',
  'local.retention.bytes',
  'message.format.version',
  'message.downconversion.enable',
  MIRROR_SOURCE_CLUSTER_CONFIG,
];

/** The configs to give the target topic, from the source topic's described configs. */
export function copiedTopicConfigs(entries: readonly ConfigEntry[]): { configs: Record<string, string>; dropped: string[] } {
  const configs: Record<string, string> = {};
  const dropped: string[] = [];
  for (const e of entries) {
    // Only what was set on the topic itself; defaults are the target cluster's own.
    if (e.source !== ConfigSource.DYNAMIC_TOPIC_CONFIG && !(e.source === -1 && !e.isDefault)) continue;
    if (e.value === null || e.isSensitive) continue;
    if (NOT_COPIED_CONFIGS.includes(e.name)) continue;
    if (!isTopicConfigName(e.name)) {
      dropped.push(e.name);
      continue;
    }
    configs[e.name] = e.value;
  }
  return { configs, dropped };
}

/** What the mirror learns about a source topic to create its target. */
export interface SourceTopicShape {
  partitions: number;
  configs: ConfigEntry[];
}

export interface EnsureTopicRequest {
  sourceTopic: string;
  targetTopic: string;
  /** The highest source partition about to be mirrored, plus one. */
  partitionsNeeded: number;
  /** The offset-preserving mode's alias (the topic must be, or is created as, its read-only mirror); undefined in normal mode. */
  mirrorOf?: string;
}

/**
 * Makes sure target topics exist with enough partitions, remembering what it checked for the
 * life of the container (a topic is looked at again only when a higher partition shows up).
 */
export class TargetTopics {
  private readonly checked = new Map<string, number>();

  constructor(
    private readonly target: StrataClient,
    /** Reads a source topic's shape; throws with a clear message when the source cannot be read. */
    private readonly describeSource: (topic: string) => Promise<SourceTopicShape>,
    private readonly log: (fields: Record<string, unknown>) => void = () => undefined,
  ) {}

  async ensure(req: EnsureTopicRequest): Promise<void> {
    if ((this.checked.get(req.targetTopic) ?? 0) >= req.partitionsNeeded) return;
    let count = await this.targetPartitions(req.targetTopic);
    if (count === null) {
      count = await this.create(req);
    } else {
      if (req.mirrorOf !== undefined) await this.checkMirrorTopic(req.targetTopic, req.mirrorOf);
      if (count < req.partitionsNeeded) count = await this.grow(req, count);
    }
    this.checked.set(req.targetTopic, count);
  }

  /** Forget what was checked (after a failure, the next batch looks again). */
  forget(targetTopic?: string): void {
    if (targetTopic === undefined) this.checked.clear();
    else this.checked.delete(targetTopic);
  }

  /** The target topic's partition count, null when it does not exist (one metadata request: no waiting for a topic that is not there). */
  private async targetPartitions(topic: string): Promise<number | null> {
    const md = await this.target.metadata([topic]);
    if (md.topicErrors.get(topic) === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return null;
    const info = md.topics.get(topic);
    if (info) return info.partitions.length;
    // Another error (LEADER_NOT_AVAILABLE while being created...): the waiting lookup.
    return (await this.target.topicInfo(topic, { refresh: true })).partitions.length;
  }

  private async source(req: EnsureTopicRequest, why: string): Promise<SourceTopicShape> {
    try {
      return await this.describeSource(req.sourceTopic);
    } catch (err) {
      throw new MirrorTargetError(`${why}, and the source topic '${req.sourceTopic}' could not be read for its partition count and configs: ${(err as Error).message}`, err);
    }
  }

  private async create(req: EnsureTopicRequest): Promise<number> {
    const src = await this.source(req, `target topic '${req.targetTopic}' does not exist`);
    if (src.partitions < req.partitionsNeeded) {
      throw new MirrorTargetError(`source topic '${req.sourceTopic}' has ${src.partitions} partition(s) but the event has partition ${req.partitionsNeeded - 1}`);
    }
    const { configs, dropped } = copiedTopicConfigs(src.configs);
    if (req.mirrorOf !== undefined) configs[MIRROR_SOURCE_CLUSTER_CONFIG] = req.mirrorOf;
    try {
      await this.target.createTopics([{ name: req.targetTopic, numPartitions: src.partitions, configs }]);
      this.log({ level: 'info', msg: 'created target topic', topic: req.targetTopic, partitions: src.partitions, configs, configsNotKnownHere: dropped });
    } catch (err) {
      // Another invocation (another partition's batch) created it first: use it.
      if (!isKafkaError(err, ErrorCode.TOPIC_ALREADY_EXISTS)) throw err;
      if (req.mirrorOf !== undefined) await this.checkMirrorTopic(req.targetTopic, req.mirrorOf);
    }
    await this.target.topicInfo(req.targetTopic, { refresh: true });
    return src.partitions;
  }

  private async grow(req: EnsureTopicRequest, current: number): Promise<number> {
    const src = await this.source(req, `target topic '${req.targetTopic}' has ${current} partition(s) but the event has partition ${req.partitionsNeeded - 1}`);
    const count = Math.max(src.partitions, req.partitionsNeeded);
    try {
      await this.target.createPartitions([{ topic: req.targetTopic, count }]);
      this.log({ level: 'info', msg: 'added target partitions', topic: req.targetTopic, from: current, to: count });
    } catch (err) {
      if (!isKafkaError(err, ErrorCode.INVALID_PARTITIONS)) throw err; // another invocation grew it already
    }
    await this.target.topicInfo(req.targetTopic, { refresh: true });
    return count;
  }

  /** In offset-preserving mode the target must be this alias's read-only mirror topic, not a writable (promoted) one. */
  private async checkMirrorTopic(topic: string, alias: string): Promise<void> {
    const [entry] = await this.target.describeConfigs({ type: ConfigResourceType.TOPIC, name: topic }, [MIRROR_SOURCE_CLUSTER_CONFIG]);
    const value = entry?.value ?? '';
    if (value === alias) return;
    throw new MirrorTargetError(
      value === ''
        ? `target topic '${topic}' is not a read-only mirror (${MIRROR_SOURCE_CLUSTER_CONFIG} is not set: it was promoted, or created by someone else); the offset-preserving mirror will not append to it`
        : `target topic '${topic}' mirrors source cluster '${value}', not '${alias}'`,
    );
  }
}

/** A source topic's shape through a client of the source cluster. */
export async function describeSourceTopic(source: StrataClient, topic: string): Promise<SourceTopicShape> {
  const partitions = (await source.topicInfo(topic, { refresh: true })).partitions.length;
  const configs = await source.describeConfigs({ type: ConfigResourceType.TOPIC, name: topic });
  return { partitions, configs };
}
