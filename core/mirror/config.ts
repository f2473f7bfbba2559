import type { ConnectionSecurity } from '../client/security';
import { validateSourceAlias, type TopicNaming } from './naming';

/**
 * What the mirror needs to know, typed: built from environment variables by the Lambda
 * function (functions/mirror/config.ts) and from flags by `strata mirror` (core/cli/mirror.ts).
 */
export interface MirrorConfig {
  /** The source cluster's alias: names target topics, the state group and transactional ids. */
  sourceAlias: string;
  /** 'prefixed' (default): `<alias>.<topic>`; 'identity': the source topic's own name. */
  naming: TopicNaming;
  /**
   * Keep source offsets on the target (Strata targets only): target topics are read-only
   * mirrors (`mirror.source.cluster`), appended at the source's offsets; no syncs, no state.
   */
  offsetPreserving: boolean;
  target: ClusterConnection;
  /**
   * The source cluster, read only to create missing target topics (partition count, configs).
   * `bootstrapServers` empty: those of the event (Lambda's events name their cluster).
   */
  source: ClusterConnection;
  /** Largest estimated size of one produced batch; records beyond it go in further batches of the same transaction. Default 900 KiB. */
  maxBatchBytes?: number;
  /** Partitions mirrored at the same time within one batch. Default 4. */
  concurrency?: number;
  /** transaction.timeout.ms of the mirror's transactional producers. Default 60 000. */
  transactionTimeoutMs?: number;
}

export interface ClusterConnection {
  bootstrapServers: string[];
  security?: ConnectionSecurity;
  clientId?: string;
}

/** Throws CONFIG_INVALID when the config cannot work. */
export function validateMirrorConfig(c: MirrorConfig): void {
  validateSourceAlias(c.sourceAlias);
}
