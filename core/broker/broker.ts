import * as fs from 'node:fs';
import * as path from 'node:path';
import { createLogger, type Logger } from '../common/logger';
import type { BrokerConfig } from '../config/brokerConfig';
import { formatListener } from '../config/brokerConfig';
import { ensureInterBrokerCredential, interBrokerSecurity } from './listenerSecurity';
import { Listeners } from './listeners';
import { LogCleaner } from '../log/logCleaner';
import { LogManager } from '../log/logManager';
import { outOfSpaceAtStart } from '../log/diskSpace';
import { PartitionManager } from '../partition/partitionManager';
import { LEADER_EPOCH } from './singleNode';
import { BrokerLease } from '../meta/brokerLease';
import { acquireDirLock, type DirLock } from '../meta/dirLock';
import { embeddedMetadataDir, openMetadataStore } from '../meta/url';
import type { BrokerRecord, MetadataStore } from '../meta/metadataStore';
import { openObjectStore } from '../tier/url';
import type { ObjectStore } from '../tier/objectStore';
import { TierManager } from '../tier/tierManager';
import { TierBridge } from './tierBridge';
import { BrokerMetrics } from '../metrics/brokerMetrics';
import { parseMetricsListener } from '../metrics/metricsListener';
import { ResponseBufferBudget } from './responseStream';
import { loadZeroCopy, zeroCopyUnavailableReason } from '../net/zeroCopy';
import { Dispatcher } from './dispatcher';
import { TopicAdmin } from './topicAdmin';
import { MetadataCache, listenerEndpoint } from '../cluster/metadataCache';
import { BrokerCluster } from '../cluster/brokerCluster';
import { DynamicBrokerConfigs } from './dynamicBrokerConfigs';
import { BROKER_CONFIGS_NAMESPACE } from '../meta/brokerConfigStore';
import type { ApiHandler, BrokerContext } from './handlers/types';
import { apiVersionsHandler } from './handlers/apiVersions';
import { metadataHandler } from './handlers/metadata';
import { produceHandler } from './handlers/produce';
import { mirrorAppendHandler } from './handlers/mirrorAppend';
import { fetchHandler } from './handlers/fetch';
import { listOffsetsHandler } from './handlers/listOffsets';
import { deleteRecordsHandler } from './handlers/deleteRecords';
import { OrphanCollector } from './orphanCollector';
import { guardHandler, guardMetadataStore, guardObjectStore } from './leaseGuards';
import { createPartitionsHandler, createTopicsHandler, deleteTopicsHandler } from './handlers/topicAdmin';
import { alterConfigsHandler, describeConfigsHandler, incrementalAlterConfigsHandler } from './handlers/configs';
import { describeClusterHandler } from './handlers/describeCluster';
import { findCoordinatorHandler } from './handlers/findCoordinator';
import { GroupCoordinator } from '../group/coordinator';
import { joinGroupHandler } from './handlers/joinGroup';
import { syncGroupHandler } from './handlers/syncGroup';
import { heartbeatHandler } from './handlers/heartbeat';
import { leaveGroupHandler } from './handlers/leaveGroup';
import { offsetCommitHandler } from './handlers/offsetCommit';
import { offsetFetchHandler } from './handlers/offsetFetch';
import { describeGroupsHandler } from './handlers/describeGroups';
import { listGroupsHandler } from './handlers/listGroups';
import { deleteGroupsHandler } from './handlers/deleteGroups';
import { offsetDeleteHandler } from './handlers/offsetDelete';
import { ProducerIdManager } from '../txn/producerIdManager';
import { TransactionCoordinator } from '../txn/txnCoordinator';
import { MarkerChannels, MarkerWriter } from '../txn/markerWriter';
import { coordinatorOwnership } from '../cluster/coordinatorPlacement';
import { initProducerIdHandler } from './handlers/initProducerId';
import { addPartitionsToTxnHandler } from './handlers/addPartitionsToTxn';
import { addOffsetsToTxnHandler } from './handlers/addOffsetsToTxn';
import { endTxnHandler } from './handlers/endTxn';
import { txnOffsetCommitHandler } from './handlers/txnOffsetCommit';
import { writeTxnMarkersHandler } from './handlers/writeTxnMarkers';
import { describeProducersHandler } from './handlers/describeProducers';
import { describeTransactionsHandler } from './handlers/describeTransactions';
import { listTransactionsHandler } from './handlers/listTransactions';
import { saslHandshakeHandler } from './handlers/saslHandshake';
import { saslAuthenticateHandler } from './handlers/saslAuthenticate';
import { describeLogDirsHandler } from './handlers/describeLogDirs';
import { offsetForLeaderEpochHandler } from './handlers/offsetForLeaderEpoch';
import { electLeadersHandler } from './handlers/electLeaders';
import { updateMetadataHandler } from './handlers/updateMetadata';
import { alterUserScramCredentialsHandler, describeUserScramCredentialsHandler } from './handlers/userScramCredentials';
import { SCRAM_CREDENTIALS_NAMESPACE, ScramCredentialStore } from '../security/scramCredentialStore';
import { Authorizer } from '../security/authorizer';
import { ACLS_NAMESPACE, AclStore } from '../security/aclStore';
import { createAclsHandler, deleteAclsHandler, describeAclsHandler } from './handlers/acls';
import { withAuthorization } from './authorization';
import { alterPartitionReassignmentsHandler, listPartitionReassignmentsHandler } from './handlers/partitionReassignments';
import { alterClientQuotasHandler, describeClientQuotasHandler } from './handlers/clientQuotas';
import { CLIENT_QUOTAS_NAMESPACE, ClientQuotaStore } from '../quota/clientQuotaStore';
import { QuotaManager } from '../quota/quotaManager';
import { registerQuotaMetrics } from '../quota/quotaMetrics';

/** The most of a segment one connection reads into memory at a time when it cannot use sendfile. */
const STREAM_CHUNK_BYTES = 256 * 1024;

/** How long a transaction marker waits to reach the ISR before the coordinator retries it (Kafka's request.timeout.ms). */
const MARKER_REPLICATION_TIMEOUT_MS = 30_000;

/** How often the broker checks time-based log policies (flush.ms, segment.ms). */
const HOUSEKEEPING_INTERVAL_MS = 1000;

/**
 * One Strata broker process: the metadata store, the partition logs and the Kafka listener.
 * `start` takes node.id's registration lease (core/meta/brokerLease.ts) before anything else
 * and resolves once the listener is bound; `stop` closes connections, flushes and closes every
 * log, releases the lease, then closes the store. A broker that loses its lease serves and
 * writes nothing more (leaseGuards.ts), logs `fenced: …`, stops, and resolves `fenced`.
 */
export class Broker {
  private housekeeping: NodeJS.Timeout | null = null;
  /** The metrics endpoint, or null when metrics.listener is empty. */
  private metrics: BrokerMetrics | null = null;
  private orphans: OrphanCollector | null = null;
  /** The data directory's .lock, released last by close. */
  private dataDirLock: DirLock | null = null;
  private stopping: Promise<void> | null = null;
  private fencedReason: string | null = null;
  private resolveFenced: (reason: string) => void = () => undefined;
  /** Resolves with the reason when the broker lost its lease (it is stopping by then); never rejects. */
  readonly fenced = new Promise<string>((resolve) => {
    this.resolveFenced = resolve;
  });

  private constructor(
    readonly context: BrokerContext,
    private readonly listeners: Listeners,
    private readonly store: MetadataStore,
    private readonly objects: ObjectStore,
    readonly endpoint: { host: string; port: number },
    private readonly lease: BrokerLease,
    readonly cluster: BrokerCluster,
    private readonly logger: Logger,
  ) {}

  static async start(config: BrokerConfig, logger: Logger = createLogger('broker')): Promise<Broker> {
    try {
      return await Broker.open(config, logger);
    } catch (e) {
      // A full disk is named, with the fix, rather than left as a bare ENOSPC.
      throw outOfSpaceAtStart(e, path.resolve(config.logDirs));
    }
  }

  private static async open(config: BrokerConfig, logger: Logger): Promise<Broker> {
    for (const w of config.warnings) logger.warn(w);
    const dataDir = path.resolve(config.logDirs);
    fs.mkdirSync(dataDir, { recursive: true });
    // One broker per data directory, whatever the metadata store (Kafka keeps a .lock in each log dir).
    const dataDirLock = await acquireDirLock(dataDir, 'data directory', { file: '.lock' });
    let leaseStore: MetadataStore;
    try {
      // The embedded store also takes <its dir>/node-<node.id>.lock: one process per node.id on a shared store.
      leaseStore = await openMetadataStore(config.metadata, { dataDir, nodeId: config.nodeId, logger: logger.child('meta') });
    } catch (e) {
      await dataDirLock.release();
      throw e;
    }
    let lease: BrokerLease | null = null;
    let objects: ObjectStore | null = null;
    let groups: GroupCoordinator | null = null;
    let tier: TierManager | null = null;
    let cleaner: LogCleaner | null = null;
    let partitions: PartitionManager | null = null;
    let txn: TransactionCoordinator | null = null;
    let metrics: BrokerMetrics | null = null;
    let cluster: BrokerCluster | null = null;
    let listeners: Listeners | null = null;
    let onSaslOutcome: ((listener: string, mechanism: string, outcome: 'success' | 'failure') => void) | undefined;
    let authorizer: Authorizer | undefined;
    let quotas: QuotaManager | null = null;
    try {
      const interBroker = config.listeners.find((l) => l.name === config.interBrokerListenerName)!;
      const brokerSecurity = interBrokerSecurity(config);
      // Before anything is loaded or served: one process per node.id on shared stores.
      lease = await BrokerLease.acquire(leaseStore, {
        nodeId: config.nodeId,
        host: interBroker.advertised?.host || interBroker.host || '127.0.0.1',
        port: interBroker.advertised?.port || interBroker.port,
        rack: config.brokerRack ?? null,
        sessionTimeoutMs: config.brokerSessionTimeoutMs,
        heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
        // On the embedded store, node-<node.id>.lock keeps every other process with this node.id out.
        exclusiveStore: embeddedMetadataDir(config.metadata, dataDir) !== null,
        logger: logger.child('lease'),
      });
      const held = lease;
      const check = (): void => held.checkHeld();
      let onFenced = (reason: string): void => logger.error(`fenced: ${reason}`);
      lease.start((reason) => onFenced(reason));
      const store = guardMetadataStore(leaseStore, check);
      objects = guardObjectStore(await openObjectStore(config.objectStore, { dataDir }), check);
      const clusterId = await store.getOrCreateClusterId();
      // Tiered partitions open with their logs: an empty local log of a tiered partition starts
      // at the tiered end before any client is served, so offsets are never reused.
      // Opening a partition deletes its objects no record names (uploads a crash cut short), but
      // only on a broker alone in its stores: with other brokers registered, a partition's leader
      // elsewhere may be between putting an upload's objects and committing its record, and a
      // sweep here would delete them. (A cluster keeps such leftovers; see docs/architecture.md.)
      const otherBrokers = (await store.listBrokers()).filter((b) => b.nodeId !== config.nodeId);
      tier = new TierManager(objects, store, { logger: logger.child('tier'), sweepOrphansOnOpen: otherBrokers.length === 0 });
      // Before the topics load: compacted tiered topics upload only what the cleaner has cleaned.
      if (config.logCleanerEnable) {
        cleaner = new LogCleaner({
          dedupeBufferBytes: config.logCleanerDedupeBufferSize,
          loadFactor: config.logCleanerIoBufferLoadFactor,
          logger: logger.child('log-cleaner'),
        });
      }
      const logs = new LogManager(path.join(dataDir, 'logs'), {
        retentionCheckIntervalMs: config.logRetentionCheckIntervalMs,
        cleanerBackoffMs: config.logCleanerBackoffMs,
        producerIdExpirationMs: config.producerIdExpirationMs,
        producerIdExpirationCheckIntervalMs: config.producerIdExpirationCheckIntervalMs,
        cleaner,
        logger: logger.child('logs'),
        freeSpaceWarnBytes: config.logDirFreeSpaceWarnBytes,
        maxOpenFiles: config.logMaxOpenFiles,
      });
      partitions = new PartitionManager(logs, {
        nodeId: config.nodeId,
        leaderEpoch: LEADER_EPOCH,
        logger: logger.child('partitions'),
        replicaLagTimeMaxMs: config.replicaLagTimeMaxMs,
      });
      const topics = new MetadataCache();
      const topicAdmin = new TopicAdmin(store, topics, partitions, config, logger.child('topics'));
      // Every broker is part of a cluster (of one, alone): roles come from the partitions' records.
      cluster = new BrokerCluster(store, lease, topics, topicAdmin, partitions, {
        nodeId: config.nodeId,
        heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
        livenessTimeoutMs: config.brokerLivenessTimeoutMs,
        autoLeaderRebalanceEnable: config.autoLeaderRebalanceEnable,
        leaderImbalanceCheckIntervalMs: config.leaderImbalanceCheckIntervalMs,
        replicaFetch: {
          maxWaitMs: config.replicaFetchWaitMaxMs,
          maxBytes: config.replicaFetchResponseMaxBytes,
          partitionMaxBytes: config.replicaFetchMaxBytes,
          backoffMs: config.replicaFetchBackoffMs,
        },
        interBrokerSecurity: brokerSecurity,
        interBrokerListenerName: config.interBrokerListenerName,
        logger: logger.child('cluster'),
      });
      partitions.setClusterHooks(cluster.partitionHooks());
      topicAdmin.setCluster(cluster.topicAdminHooks());
      topicAdmin.setObserver(new TierBridge(tier, logger.child('tier'), cleaner));
      // Dynamic broker configs before the topics load, so that every topic opens with them.
      const dynamicConfigs = await DynamicBrokerConfigs.load(store.namespace(BROKER_CONFIGS_NAMESPACE), config, logger.child('configs'));
      await topicAdmin.setBrokerDefaults(dynamicConfigs.current);
      dynamicConfigs.onChange((layers) => topicAdmin.setBrokerDefaults(layers));
      await topicAdmin.load();
      // Roles from the records, and out of the ISRs this broker cannot vouch for, before anything is served.
      await cluster.start();
      tier.start();
      groups = await GroupCoordinator.start(
        store.namespace('offsets'),
        {
          groupMinSessionTimeoutMs: config.groupMinSessionTimeoutMs,
          groupMaxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
          groupInitialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
          groupMaxSize: config.groupMaxSize,
          offsetMetadataMaxBytes: config.offsetMetadataMaxBytes,
          offsetsRetentionMs: config.offsetsRetentionMinutes * 60_000,
          offsetsRetentionCheckIntervalMs: config.offsetsRetentionCheckIntervalMs,
        },
        {
          logger: logger.child('groups'),
          topics: (name) => {
            const t = topics.get(name);
            return t && { topicId: t.topicId, partitions: t.partitions.length };
          },
          txnOffsets: store.namespace('txn-offsets'),
          // Groups spread over the live brokers by key hash (FindCoordinator names the owner).
          ownership: coordinatorOwnership(topics, config.nodeId, 'group'),
        },
      );
      // Transactions: decided state in the metadata store, markers through the WriteTxnMarkers path:
      // appended here where this broker leads (and waited on until the ISR has them), sent to the
      // leader elsewhere. Transactional ids spread over the live brokers as groups do; each id's
      // coordinator epoch lives in its record and grows with every takeover (this broker's lease
      // epoch is its floor), so a marker from an earlier coordinator is refused by the partitions.
      const replicas = partitions;
      const markers = new MarkerWriter(
        (t, p) => topics.partition(t, p),
        new MarkerChannels({ endpointOf: (id) => interBrokerEndpoint(topics.broker(id), config.interBrokerListenerName), clientId: `strata-txn-markers-${config.nodeId}`, security: brokerSecurity }),
        (appended) => replicas.awaitAcks(appended, MARKER_REPLICATION_TIMEOUT_MS),
      );
      txn = await TransactionCoordinator.start(
        store.namespace('transactions'),
        {
          producerIds: new ProducerIdManager(store.namespace('producer-ids'), { logger: logger.child('producer-ids') }),
          markers,
          offsets: groups,
          partitionExists: (tp) => topics.partition(tp.topic, tp.partition) !== undefined,
          logger: logger.child('transactions'),
          ownership: coordinatorOwnership(topics, config.nodeId, 'transaction'),
        },
        {
          transactionMaxTimeoutMs: config.transactionMaxTimeoutMs,
          transactionalIdExpirationMs: config.transactionalIdExpirationMs,
          abortTimedOutTransactionsIntervalMs: config.transactionAbortTimedOutTransactionCleanupIntervalMs,
          removeExpiredTransactionalIdsIntervalMs: config.transactionRemoveExpiredTransactionCleanupIntervalMs,
          coordinatorEpoch: lease.epoch,
        },
      );
      const coordinator = txn;
      partitions.setTransactionVerifier((id, pid, epoch, tp) => coordinator.verifyWriteForPartition(id, pid, epoch, tp));
      // authorizer.class.name: ACLs loaded before anything is served, then kept fresh from the store.
      if (config.authorizerClassName !== '') {
        authorizer = await Authorizer.start(new AclStore(store.namespace(ACLS_NAMESPACE)), {
          superUsers: config.superUsers,
          allowEveryoneIfNoAclFound: config.allowEveryoneIfNoAclFound,
          logger: logger.child('authorizer'),
        });
      }
      // Client quotas: read before anything is served, then kept fresh from the store.
      quotas = new QuotaManager(new ClientQuotaStore(store.namespace(CLIENT_QUOTAS_NAMESPACE)), {
        windowNum: config.quotaWindowNum,
        windowSizeSeconds: config.quotaWindowSizeSeconds,
        logger: logger.child('quotas'),
      });
      await quotas.start();
      const context: BrokerContext = {
        nodeId: config.nodeId,
        clusterId,
        rack: config.brokerRack ?? null,
        advertisedOn: (listener) => listeners?.advertisedOn(listener) ?? { host: '', port: 0 },
        config,
        topics,
        topicAdmin,
        partitions,
        groups,
        txn,
        markers,
        tier,
        cluster,
        dynamicConfigs,
        scramCredentials: new ScramCredentialStore(store.namespace(SCRAM_CREDENTIALS_NAMESPACE)),
        authorizer,
        quotas,
        logger: logger.child('requests'),
      };
      const handlers = [
        metadataHandler,
        produceHandler,
        mirrorAppendHandler,
        fetchHandler,
        listOffsetsHandler,
        deleteRecordsHandler,
        createTopicsHandler,
        deleteTopicsHandler,
        createPartitionsHandler,
        describeConfigsHandler,
        alterConfigsHandler,
        incrementalAlterConfigsHandler,
        describeClusterHandler,
        findCoordinatorHandler,
        joinGroupHandler,
        syncGroupHandler,
        heartbeatHandler,
        leaveGroupHandler,
        offsetCommitHandler,
        offsetFetchHandler,
        describeGroupsHandler,
        listGroupsHandler,
        deleteGroupsHandler,
        offsetDeleteHandler,
        initProducerIdHandler,
        addPartitionsToTxnHandler,
        addOffsetsToTxnHandler,
        endTxnHandler,
        txnOffsetCommitHandler,
        writeTxnMarkersHandler,
        describeProducersHandler,
        describeTransactionsHandler,
        listTransactionsHandler,
        saslHandshakeHandler,
        saslAuthenticateHandler,
        describeLogDirsHandler,
        offsetForLeaderEpochHandler,
        electLeadersHandler,
        alterPartitionReassignmentsHandler,
        listPartitionReassignmentsHandler,
        updateMetadataHandler,
        describeUserScramCredentialsHandler,
        alterUserScramCredentialsHandler,
        describeAclsHandler,
        createAclsHandler,
        deleteAclsHandler,
        describeClientQuotasHandler,
        alterClientQuotasHandler,
      ];
      let dispatcher: Dispatcher;
      const versions = apiVersionsHandler(() => dispatcher.supportedApis());
      const zeroCopy = loadZeroCopy();
      const responseBuffer = new ResponseBufferBudget(config.fetchResponseMaxBufferBytes);
      const metricsListener = parseMetricsListener(config.metricsListener);
      if (metricsListener) {
        metrics = new BrokerMetrics(
          { topics, tier, groups, txn, connections: () => listeners?.connectionCount ?? 0, logDirFreeBytes: () => logs.diskSpace.freeBytes, responseBuffer, authorizer },
          logger.child('metrics'),
        );
        registerQuotaMetrics(metrics.registry, quotas);
        const sasl = metrics.registry.counter({
          name: 'strata_sasl_authentications_total',
          help: 'SASL authentications (re-authentications included) by listener, mechanism and outcome (success, failure).',
          labelNames: ['listener', 'mechanism', 'outcome'],
        });
        onSaslOutcome = (listener, mechanism, outcome) => sasl.labels(listener, mechanism, outcome).inc();
      }
      logger.info(
        zeroCopy !== null
          ? 'fetch responses are sent with sendfile(2) (zero-copy)'
          : `fetch responses are sent through a buffer (${zeroCopyUnavailableReason()}); at most fetch.response.max.buffer.bytes=${config.fetchResponseMaxBufferBytes} in memory`,
      );
      logger.info(`segment files: at most ${config.logMaxOpenFiles} open (log.max.open.files)`);
      dispatcher = new Dispatcher(context, [versions, ...handlers].map((h: ApiHandler) => guardHandler(authorizer ? withAuthorization(h, authorizer) : h, check)), metrics?.requests ?? null);
      if (context.scramCredentials !== undefined) await ensureInterBrokerCredential(brokerSecurity, context.scramCredentials, logger.child('security'));
      listeners = new Listeners({
        config,
        handler: dispatcher,
        stream: { zeroCopy, budget: responseBuffer, chunkBytes: STREAM_CHUNK_BYTES },
        scramCredentials: context.scramCredentials,
        onSaslOutcome: (listener, mechanism, outcome) => onSaslOutcome?.(listener, mechanism, outcome),
        logger,
      });
      // Bound before the Kafka listeners, logged after their line (which tests and tools parse).
      const metricsUrl = metrics && metricsListener ? await metrics.listen(metricsListener) : null;
      check();
      const endpoints = await listeners.bind();
      const self = listeners.advertisedOn(config.interBrokerListenerName);
      const broker = new Broker(context, listeners, store, objects, listeners.first, lease, cluster, logger);
      broker.dataDirLock = dataDirLock;
      onFenced = (reason) => broker.fence(reason);
      if (lease.fenced !== null) broker.fence(lease.fenced);
      // The registration names the endpoints clients are told, once they are known.
      lease.setEndpoint(self.host, self.port, endpoints);
      // A heartbeat already in flight still carries the old endpoints: renew until the record names these.
      const registered = (): boolean =>
        lease!.current.host === self.host && lease!.current.port === self.port && JSON.stringify(lease!.current.endpoints) === JSON.stringify(endpoints);
      for (let i = 0; i < 3 && !registered(); i++) await lease.renew();
      broker.metrics = metrics;
      broker.orphans = new OrphanCollector(store, tier, topicAdmin, logger.child('orphans'));
      broker.housekeeping = setInterval(() => broker.tick(), HOUSEKEEPING_INTERVAL_MS);
      broker.housekeeping.unref();
      logger.info(
        `listening on ${listeners.describeBound()} (node.id=${config.nodeId}, cluster.id=${clusterId}, ` +
          `advertised ${endpoints.map((e) => formatListener(e.listener, e)).join(', ')}, inter-broker listener ${config.interBrokerListenerName}, ` +
          `data ${dataDir}, metadata ${config.metadata}, object store ${config.objectStore})`,
      );
      if (metricsUrl) logger.info(`metrics on ${metricsUrl}`);
      return broker;
    } catch (e) {
      await listeners?.close();
      authorizer?.close();
      quotas?.close();
      await cluster?.close();
      await metrics?.close();
      await txn?.close();
      await groups?.close();
      await cleaner?.close();
      await tier?.close();
      partitions?.close();
      await objects?.close();
      await lease?.release();
      try {
        await leaseStore.close();
      } finally {
        await dataDirLock.release();
      }
      throw e;
    }
  }

  private tick(): void {
    const now = Date.now();
    this.orphans?.maybeRun(now);
    this.context.partitions.maintain(now);
  }

  /** Idempotent; resolves when everything is closed. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  /** The lease is lost: nothing is served or written from now on (the guards refuse); stop. */
  private fence(reason: string): void {
    if (this.fencedReason !== null) return;
    this.fencedReason = reason;
    this.logger.error(`fenced: ${reason}; stopping`);
    this.resolveFenced(reason);
    this.stop().catch((e: unknown) => this.logger.error(`stopping after fencing failed: ${(e as Error).message}`));
  }

  private async close(): Promise<void> {
    if (this.housekeeping) clearInterval(this.housekeeping);
    this.context.authorizer?.close();
    this.context.quotas?.close();
    // Controlled shutdown first, while everything still serves: leaderships move to in-sync
    // replicas and this broker leaves the ISRs. A fenced broker hands nothing over (its writes
    // would be refused): the others see it gone after broker.liveness.timeout.ms.
    if (this.fencedReason === null) await this.cluster.shutdown();
    else await this.cluster.close();
    // First: no scrape reads the logs and stores while they close.
    await this.metrics?.close();
    await this.orphans?.idle();
    // Transactions first (their completions write group offsets), then groups: parked
    // JoinGroup/SyncGroup requests are answered (NOT_COORDINATOR) before the connections close,
    // and in-flight offset commits reach the store before it closes.
    await this.context.txn.close();
    this.context.markers.close();
    await this.context.groups.close();
    // One turn of the event loop, so those answers are written before connections are destroyed.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.listeners.close();
    await this.context.partitions.logs.close();
    await this.context.tier.close();
    await this.context.topicAdmin.close();
    this.context.partitions.close();
    await this.objects.close();
    await this.lease.release();
    try {
      await this.store.close();
    } finally {
      await this.dataDirLock?.release();
    }
  }
}

/** A broker's address on this broker's inter-broker listener; undefined when it is not live or has no such listener. */
function interBrokerEndpoint(r: BrokerRecord | undefined, listener: string): { host: string; port: number } | undefined {
  return r === undefined ? undefined : listenerEndpoint(r, listener);
}
