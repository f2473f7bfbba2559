import type { BrokerCluster } from '../../cluster/brokerCluster';
import type { Logger } from '../../common/logger';
import type { TierManager } from '../../tier/tierManager';
import type { RequestHeader } from '../../protocol/headers';
import type { ConnectionInfo } from '../server';
import type { MetadataCache } from '../../cluster/metadataCache';
import type { ScramCredentialStore } from '../../security/scramCredentialStore';
import type { Authorizer } from '../../security/authorizer';
import type { TopicAdmin } from '../topicAdmin';
import type { BrokerConfig } from '../../config/brokerConfig';
import type { GroupCoordinator } from '../../group/coordinator';
import type { PartitionManager } from '../../partition/partitionManager';
import type { TransactionCoordinator } from '../../txn/txnCoordinator';
import type { MarkerWriter } from '../../txn/markerWriter';
import type { DynamicBrokerConfigs } from '../dynamicBrokerConfigs';
import type { QuotaManager } from '../../quota/quotaManager';

/** The broker as handlers see it: identity, advertised endpoint, topics, the group coordinator. */
export interface BrokerContext {
  readonly nodeId: number;
  readonly clusterId: string;
  readonly rack: string | null;
  /** The address clients of `listener` are told to connect to (advertised.listeners, port filled after bind). */
  advertisedOn(listener: string): { host: string; port: number };
  readonly config: BrokerConfig;
  /** The topics and partitions this broker serves (reads are synchronous). */
  readonly topics: MetadataCache;
  /** Creating, deleting, growing and reconfiguring topics: the store first, then the cache. */
  readonly topicAdmin: TopicAdmin;
  /** The partitions this broker holds, and the requests waiting on them. */
  readonly partitions: PartitionManager;
  /** Tiered storage: partitions of topics with remote.storage.enable=true. */
  readonly tier: TierManager;
  /** Consumer groups and committed offsets (the groups this broker coordinates: core/cluster/coordinatorPlacement.ts). */
  readonly groups: GroupCoordinator;
  /** Transactions and producer ids (the transactional ids this broker coordinates). */
  readonly txn: TransactionCoordinator;
  /** Writes transaction markers: appended where this broker leads, sent to the leader elsewhere. */
  readonly markers: MarkerWriter;
  /** This broker's part in the cluster (leader elections on request); absent in contexts built without one. */
  readonly cluster?: BrokerCluster;
  /** Dynamic broker configs (AlterConfigs on BROKER resources); absent in contexts built without them: broker configs are then read-only. */
  readonly dynamicConfigs?: DynamicBrokerConfigs;
  /** SCRAM credentials (AlterUserScramCredentials / DescribeUserScramCredentials); absent in contexts built without a store. */
  readonly scramCredentials?: ScramCredentialStore;
  /** ACLs (authorizer.class.name set); absent: no authorization, every client may do everything. */
  readonly authorizer?: Authorizer;
  /** Client quotas (DescribeClientQuotas / AlterClientQuotas, and their enforcement); absent in contexts built without them: nothing is throttled. */
  readonly quotas?: QuotaManager;
  readonly logger: Logger;
}

export interface RequestContext {
  readonly header: RequestHeader;
  readonly version: number;
  readonly conn: ConnectionInfo;
  readonly broker: BrokerContext;
}

/**
 * One module per API. `minImplemented` is the lowest version the handler serves: the broker
 * advertises from 0 (old clients probe for features by the advertised range) and answers
 * versions below `minImplemented` with UNSUPPORTED_VERSION via `errorResponse`.
 */
export interface ApiHandler<Req = any, Res = any> {
  readonly apiKey: number;
  readonly minImplemented: number;
  handle(req: Req, ctx: RequestContext): Res | null | Promise<Res | null>;
  /** The response for a request that fails as a whole with `errorCode`. */
  errorResponse(req: Req, errorCode: number, ctx: RequestContext): Res;
}
