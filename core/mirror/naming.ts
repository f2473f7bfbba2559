import { StrataError } from '../common/errors';
import { validateTopicName } from '../config/topicName';

/**
 * Every name the mirror derives from the source alias, in one place:
 *
 *   target topic        <alias>.<topic>          MirrorMaker 2's DefaultReplicationPolicy ('prefixed')
 *                       <topic>                  IdentityReplicationPolicy ('identity')
 *   offset syncs        strata-mirror-offset-syncs.<alias>.internal   (target, 1 partition)
 *   mirror state group  strata-mirror.<alias>    (target; committed offset per target partition =
 *                                                 the next SOURCE offset to mirror)
 *   transactional id    strata-mirror.<alias>.<topic>.<partition>    (stable: a retry fences its zombie)
 *
 * The alias is what MirrorMaker 2 calls the source cluster's alias ("us-east"): letters, digits,
 * '_' and '-' (no '.', so `<alias>.<topic>` reads back unambiguously).
 */

export type TopicNaming = 'prefixed' | 'identity';
export const TOPIC_NAMINGS: readonly TopicNaming[] = ['prefixed', 'identity'];

const ALIAS = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws CONFIG_INVALID unless `alias` can name a source cluster. */
export function validateSourceAlias(alias: string): void {
  if (!ALIAS.test(alias)) {
    throw new StrataError('CONFIG_INVALID', `the source alias must be 1 to 64 letters, digits, '_' or '-' (no '.'), got '${alias}'`);
  }
}

/** The target topic a source topic is mirrored into. Throws TOPIC_NAME_INVALID when the result is not a legal name (too long). */
export function targetTopicName(sourceTopic: string, alias: string, naming: TopicNaming): string {
  const name = naming === 'identity' ? sourceTopic : `${alias}.${sourceTopic}`;
  validateTopicName(name);
  return name;
}

export function offsetSyncsTopic(alias: string): string {
  return `strata-mirror-offset-syncs.${alias}.internal`;
}

export function mirrorStateGroup(alias: string): string {
  return `strata-mirror.${alias}`;
}

export function mirrorTransactionalId(alias: string, sourceTopic: string, partition: number): string {
  return `strata-mirror.${alias}.${sourceTopic}.${partition}`;
}

/** Topic config naming the source alias of a read-only, offset-preserving mirror topic (deleting it promotes the topic). */
export const MIRROR_SOURCE_CLUSTER_CONFIG = 'mirror.source.cluster';
