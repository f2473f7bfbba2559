/**
 * What every API checks against the ACLs, as Kafka's KafkaApis does, around each handler: with
 * an authorizer (authorizer.class.name set) the broker wraps its handlers with
 * `withAuthorization`; without one the handlers run unwrapped and every client may do
 * everything, as before.
 *
 * A guard either refuses a request whole (the handler's own error response with Kafka's code:
 * GROUP_AUTHORIZATION_FAILED for a group the caller may not READ, TRANSACTIONAL_ID_... for a
 * transactional id it may not WRITE, CLUSTER_AUTHORIZATION_FAILED for inter-broker and cluster
 * admin APIs), or splits it: the handler serves the resources the caller may use, the others
 * are answered with the handler's error entries for them (TOPIC_AUTHORIZATION_FAILED, ...) and
 * both answers are merged. Answers that only describe are filtered instead (Metadata for every
 * topic, ListGroups, ListTransactions) and carry the authorized-operations bit fields Kafka
 * fills in (Metadata v8+, DescribeCluster, DescribeGroups v3+).
 *
 * Per API (resource, operation):
 *   Produce            transactional id WRITE (whole), topic WRITE
 *   MirrorAppend       topic WRITE (Strata's own API: the offset-preserving mirror)
 *   Fetch              follower (replica id >= 0): cluster CLUSTER_ACTION (every partition refused
 *                      otherwise); consumer: topic READ. With an incremental fetch session only the
 *                      partitions a request names are checked.
 *   ListOffsets        topic DESCRIBE
 *   Metadata           topic DESCRIBE (listing all: left out; named: TOPIC_AUTHORIZATION_FAILED),
 *                      auto-creation: cluster CREATE or topic CREATE
 *   OffsetCommit       group READ (whole), topic READ
 *   OffsetFetch        group DESCRIBE, topic DESCRIBE (all topics: left out)
 *   FindCoordinator    group DESCRIBE / transactional id DESCRIBE
 *   JoinGroup, SyncGroup, Heartbeat, LeaveGroup   group READ
 *   DescribeGroups     group DESCRIBE;  ListGroups: cluster DESCRIBE, else groups it may DESCRIBE
 *   DeleteGroups       group DELETE;  OffsetDelete: group DELETE (whole), topic READ
 *   CreateTopics       cluster CREATE or topic CREATE (configs: DESCRIBE_CONFIGS)
 *   DeleteTopics       topic DELETE;  DeleteRecords: topic DELETE;  CreatePartitions: topic ALTER
 *   InitProducerId     transactional id WRITE; idempotent: cluster IDEMPOTENT_WRITE or WRITE on some topic
 *   AddPartitionsToTxn v0-3: transactional id WRITE (whole), topic WRITE (the rest then
 *                      OPERATION_NOT_ATTEMPTED); v4+ (brokers): cluster CLUSTER_ACTION
 *   AddOffsetsToTxn    transactional id WRITE, group READ;  EndTxn: transactional id WRITE
 *   TxnOffsetCommit    transactional id WRITE, group READ (whole), topic READ
 *   WriteTxnMarkers, UpdateMetadata   cluster CLUSTER_ACTION (WriteTxnMarkers: or ALTER)
 *   OffsetForLeaderEpoch   cluster CLUSTER_ACTION, else topic DESCRIBE
 *   DescribeConfigs / AlterConfigs / IncrementalAlterConfigs   DESCRIBE_CONFIGS / ALTER_CONFIGS on
 *                      the topic, the group, or the cluster for BROKER / BROKER_LOGGER resources
 *   DescribeLogDirs, ListPartitionReassignments, DescribeUserScramCredentials   cluster DESCRIBE
 *   ElectLeaders, AlterPartitionReassignments, AlterUserScramCredentials        cluster ALTER
 *   DescribeClientQuotas / AlterClientQuotas   cluster DESCRIBE_CONFIGS / ALTER_CONFIGS
 *   DescribeProducers  topic READ;  DescribeTransactions: transactional id DESCRIBE (topics it
 *                      may not DESCRIBE left out);  ListTransactions: transactional ids it may DESCRIBE
 *   Create/Describe/DeleteAcls check the cluster in their own handler (handlers/acls.ts).
 */
import { API_MESSAGES, ApiKey } from '../protocol/generated/index';
import { ErrorCode } from '../protocol/errorCodes';
import { ZERO_UUID } from '../protocol/reader';
import { AclOperation as Op, CLUSTER_NAME, ResourceType as RT } from '../security/acl';
import type { Authorizer, Requester } from '../security/authorizer';
import type { ApiHandler, RequestContext } from './handlers/types';

/** The authorized-operations sentinel for "not requested" (Kafka's Integer.MIN_VALUE). */
const NOT_REQUESTED = -2147483648;
/** DescribeConfigs / AlterConfigs resource types (Kafka's ConfigResource.Type). */
const CONFIG_TOPIC = 2;
const CONFIG_BROKER = 4;
const CONFIG_BROKER_LOGGER = 8;
const CONFIG_GROUP = 32;

// One wrapper over some forty message shapes: each guard reads the fields its own API has, so
// requests and answers are handled as `any` here (the codecs check them on the wire).
type Handle = (req: any) => Promise<any>;
type Guard = (req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any) => Promise<any>;

/** The checks for one request: the authorizer and who is asking. */
class Checks {
  constructor(
    readonly authorizer: Authorizer,
    readonly who: Requester,
    /** The API's name, for denial log lines. */
    readonly request: string,
  ) {}

  can(op: number, type: number, name: string, log = true): boolean {
    return this.authorizer.authorize(this.who, op, type, name, { log, request: this.request });
  }

  cluster(op: number, log = true): boolean {
    return this.can(op, RT.CLUSTER, CLUSTER_NAME, log);
  }

  /** Names allowed `op` on `type`, each checked once. */
  allowedNames(op: number, type: number, names: Iterable<string>, log = true): Set<string> {
    const out = new Set<string>();
    for (const n of new Set(names)) if (this.can(op, type, n, log)) out.add(n);
    return out;
  }

  ops(type: number, name: string): number {
    return this.authorizer.authorizedOperations(this.who, type, name);
  }
}

/**
 * Splits a list-shaped request on `ok`: the handler answers the allowed items, `refuse` the
 * others (with the handler's own error entries), and `merge` concatenates the two answers.
 * When nothing is allowed the handler is not called; when nothing is refused it runs alone.
 */
async function split<T>(
  req: any,
  items: T[],
  ok: (item: T) => boolean,
  rebuild: (items: T[]) => any,
  handle: Handle,
  refuse: (req: any) => any,
  merge: (allowed: any, refused: any) => any,
): Promise<any> {
  const allowed = items.filter(ok);
  if (allowed.length === items.length) return handle(req);
  const refused = refuse(rebuild(items.filter((i) => !ok(i))));
  if (allowed.length === 0) return refused;
  const answer = await handle(rebuild(allowed));
  return answer === null ? null : merge(answer, refused);
}

const concat = (field: string) => (a: any, b: any) => ({ ...a, [field]: [...(a[field] ?? []), ...(b[field] ?? [])] });

/** Topics of the request's `field` the caller may not `op` are answered TOPIC_AUTHORIZATION_FAILED in the response's `responseField`. */
function topicsSplit(field: string, responseField: string, nameOf: (t: any) => string, op: number): Guard {
  return (req, _ctx, a, handle, refuse) => {
    const allowed = a.allowedNames(op, RT.TOPIC, (req[field] as any[]).map(nameOf));
    return split(req, req[field], (t) => allowed.has(nameOf(t)), (ts) => ({ ...req, [field]: ts }), handle, (r) => refuse(r, ErrorCode.TOPIC_AUTHORIZATION_FAILED), concat(responseField));
  };
}

const whole = (check: (req: any, a: Checks, ctx: RequestContext) => number | null): Guard => (req, ctx, a, handle, refuse) => {
  const code = check(req, a, ctx);
  return code === null ? handle(req) : Promise.resolve(refuse(req, code));
};

const clusterOp = (op: number): Guard => whole((_req, a) => (a.cluster(op) ? null : ErrorCode.CLUSTER_AUTHORIZATION_FAILED));
const groupRead: Guard = whole((req, a) => (a.can(Op.READ, RT.GROUP, req.groupId) ? null : ErrorCode.GROUP_AUTHORIZATION_FAILED));

const GUARDS = new Map<number, Guard>([
  [ApiKey.Produce, produce],
  [ApiKey.MirrorAppend, topicsSplit('topics', 'topics', (t) => t.name, Op.WRITE)],
  [ApiKey.Fetch, fetch],
  [ApiKey.ListOffsets, topicsSplit('topics', 'topics', (t) => t.name, Op.DESCRIBE)],
  [ApiKey.Metadata, metadata],
  [ApiKey.OffsetCommit, groupThenTopics(Op.READ)],
  [ApiKey.OffsetFetch, offsetFetch],
  [ApiKey.FindCoordinator, findCoordinator],
  [ApiKey.JoinGroup, groupRead],
  [ApiKey.SyncGroup, groupRead],
  [ApiKey.Heartbeat, groupRead],
  [ApiKey.LeaveGroup, groupRead],
  [ApiKey.DescribeGroups, describeGroups],
  [ApiKey.ListGroups, listGroups],
  [ApiKey.DeleteGroups, deleteGroups],
  [ApiKey.OffsetDelete, offsetDelete],
  [ApiKey.CreateTopics, createTopics],
  [ApiKey.DeleteTopics, deleteTopics],
  [ApiKey.DeleteRecords, topicsSplit('topics', 'topics', (t) => t.name, Op.DELETE)],
  [ApiKey.CreatePartitions, topicsSplit('topics', 'results', (t) => t.name, Op.ALTER)],
  [ApiKey.InitProducerId, initProducerId],
  [ApiKey.AddPartitionsToTxn, addPartitionsToTxn],
  [ApiKey.AddOffsetsToTxn, whole((req, a) => (!a.can(Op.WRITE, RT.TRANSACTIONAL_ID, req.transactionalId) ? ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED : !a.can(Op.READ, RT.GROUP, req.groupId) ? ErrorCode.GROUP_AUTHORIZATION_FAILED : null))],
  [ApiKey.EndTxn, whole((req, a) => (a.can(Op.WRITE, RT.TRANSACTIONAL_ID, req.transactionalId) ? null : ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED))],
  [ApiKey.TxnOffsetCommit, txnOffsetCommit],
  [ApiKey.WriteTxnMarkers, whole((_req, a) => (a.cluster(Op.ALTER, false) || a.cluster(Op.CLUSTER_ACTION) ? null : ErrorCode.CLUSTER_AUTHORIZATION_FAILED))],
  [ApiKey.UpdateMetadata, clusterOp(Op.CLUSTER_ACTION)],
  [ApiKey.OffsetForLeaderEpoch, offsetForLeaderEpoch],
  [ApiKey.DescribeConfigs, configs(Op.DESCRIBE_CONFIGS, 'results')],
  [ApiKey.AlterConfigs, configs(Op.ALTER_CONFIGS, 'responses')],
  [ApiKey.IncrementalAlterConfigs, configs(Op.ALTER_CONFIGS, 'responses')],
  [ApiKey.DescribeLogDirs, clusterOp(Op.DESCRIBE)],
  [ApiKey.ElectLeaders, clusterOp(Op.ALTER)],
  [ApiKey.AlterPartitionReassignments, clusterOp(Op.ALTER)],
  [ApiKey.ListPartitionReassignments, clusterOp(Op.DESCRIBE)],
  [ApiKey.DescribeClientQuotas, clusterOp(Op.DESCRIBE_CONFIGS)],
  [ApiKey.AlterClientQuotas, clusterOp(Op.ALTER_CONFIGS)],
  [ApiKey.DescribeUserScramCredentials, clusterOp(Op.DESCRIBE)],
  [ApiKey.AlterUserScramCredentials, clusterOp(Op.ALTER)],
  [ApiKey.DescribeCluster, describeCluster],
  [ApiKey.DescribeProducers, topicsSplit('topics', 'topics', (t) => t.name, Op.READ)],
  [ApiKey.DescribeTransactions, describeTransactions],
  [ApiKey.ListTransactions, listTransactions],
]);

/** `handler` with its API's checks, for a broker with an authorizer. */
export function withAuthorization<Req, Res>(handler: ApiHandler<Req, Res>, authorizer: Authorizer): ApiHandler<Req, Res> {
  const guard = GUARDS.get(handler.apiKey);
  if (guard === undefined) return handler;
  return {
    apiKey: handler.apiKey,
    minImplemented: handler.minImplemented,
    handle: (req, ctx) =>
      guard(
        req,
        ctx,
        new Checks(authorizer, ctx.conn, API_MESSAGES.get(handler.apiKey)?.name ?? String(handler.apiKey)),
        async (r) => handler.handle(r, ctx),
        (r, code) => handler.errorResponse(r, code, ctx),
      ),
    errorResponse: (req, code, ctx) => handler.errorResponse(req, code, ctx),
  };
}

async function produce(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  const txnId: string | null = req.transactionalId ?? null;
  if (txnId !== null && !a.can(Op.WRITE, RT.TRANSACTIONAL_ID, txnId)) return req.acks === 0 ? null : refuse(req, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  const answer = await topicsSplit('topicData', 'responses', (t) => t.name, Op.WRITE)(req, ctx, a, handle, refuse);
  return req.acks === 0 ? null : answer;
}

function refusedFetchPartition(partitionIndex: number): any {
  return { partitionIndex, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: [], preferredReadReplica: -1, records: Buffer.alloc(0) };
}

async function fetch(req: any, ctx: RequestContext, a: Checks, handle: Handle): Promise<any> {
  const replicaId = ctx.version >= 15 ? (req.replicaState?.replicaId ?? -1) : (req.replicaId ?? -1);
  const nameOf = (t: any): string | undefined => (ctx.version >= 13 ? ctx.broker.topics.getById(t.topicId)?.name : t.topic);
  let ok: (t: any) => boolean;
  if (replicaId >= 0) {
    const cluster = a.cluster(Op.CLUSTER_ACTION);
    ok = () => cluster;
  } else {
    const names = (req.topics as any[]).map(nameOf).filter((n): n is string => n !== undefined);
    const allowed = a.allowedNames(Op.READ, RT.TOPIC, names);
    // A topic id this broker does not know is the handler's to answer (UNKNOWN_TOPIC_ID).
    ok = (t) => {
      const n = nameOf(t);
      return n === undefined || allowed.has(n);
    };
  }
  const topics = req.topics as any[];
  const refused = topics.filter((t) => !ok(t));
  if (refused.length === 0) return handle(req);
  const refusedTopics = refused.map((t) => ({ topic: t.topic, topicId: t.topicId, partitions: (t.partitions as any[]).map((p) => refusedFetchPartition(p.partition)) }));
  const allowed = topics.filter(ok);
  // A full or sessionless fetch with nothing left is answered at once; an incremental session's
  // fetch still goes to the handler (the session's other partitions, its epoch).
  if (allowed.length === 0 && !((req.sessionEpoch ?? -1) > 0)) return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses: refusedTopics };
  const answer = await handle({ ...req, topics: allowed });
  return { ...answer, responses: [...(answer.responses ?? []), ...refusedTopics] };
}

async function metadata(req: any, ctx: RequestContext, a: Checks, handle: Handle): Promise<any> {
  const version = ctx.version;
  const all = req.topics === null || (version === 0 && req.topics.length === 0);
  let answer: any;
  const refused: any[] = [];
  if (all) {
    answer = await handle(req);
    // Kafka does not disclose topics the caller may not describe (not even that they exist).
    answer.topics = answer.topics.filter((t: any) => t.name !== null && a.can(Op.DESCRIBE, RT.TOPIC, t.name, false));
  } else {
    const named = req.topics as any[];
    const nameOf = (t: any): string | null => t.name ?? (t.topicId ? (ctx.broker.topics.getById(t.topicId)?.name ?? null) : null);
    const describable = a.allowedNames(Op.DESCRIBE, RT.TOPIC, named.map(nameOf).filter((n): n is string => n !== null));
    const allowAutoCreate = (version < 4 || req.allowAutoTopicCreation !== false) && ctx.broker.config.autoCreateTopicsEnable;
    const mayCreate = (n: string): boolean => a.cluster(Op.CREATE, false) || a.can(Op.CREATE, RT.TOPIC, n);
    const keep: any[] = [];
    for (const t of named) {
      const n = nameOf(t);
      if (n === null) keep.push(t); // an unknown id: the handler answers UNKNOWN_TOPIC_ID
      else if (!describable.has(n)) {
        // Topic ids are not secret: a named id is answered with its id and no name.
        refused.push({ errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name: t.name ? n : null, topicId: t.name ? ZERO_UUID : t.topicId, isInternal: false, partitions: [], topicAuthorizedOperations: NOT_REQUESTED });
      } else if (allowAutoCreate && ctx.broker.topics.get(n) === undefined && !mayCreate(n)) {
        refused.push({ errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name: n, topicId: ZERO_UUID, isInternal: false, partitions: [], topicAuthorizedOperations: NOT_REQUESTED });
      } else keep.push(t);
    }
    answer = keep.length === 0 && refused.length > 0 ? await handle({ ...req, topics: [], allowAutoTopicCreation: false }) : await handle({ ...req, topics: keep });
    if (keep.length === 0) answer.topics = [];
    answer.topics = [...answer.topics, ...refused];
  }
  if (version >= 8 && req.includeTopicAuthorizedOperations) {
    for (const t of answer.topics) if (t.name !== null && t.errorCode !== ErrorCode.TOPIC_AUTHORIZATION_FAILED) t.topicAuthorizedOperations = a.ops(RT.TOPIC, t.name);
  }
  if (version >= 8 && version <= 10 && req.includeClusterAuthorizedOperations) {
    answer.clusterAuthorizedOperations = a.cluster(Op.DESCRIBE) ? a.ops(RT.CLUSTER, CLUSTER_NAME) : 0;
  }
  return answer;
}

function groupThenTopics(topicOp: number): Guard {
  return async (req, ctx, a, handle, refuse) => {
    if (!a.can(Op.READ, RT.GROUP, req.groupId)) return refuse(req, ErrorCode.GROUP_AUTHORIZATION_FAILED);
    return topicsSplit('topics', 'topics', (t) => t.name, topicOp)(req, ctx, a, handle, refuse);
  };
}

async function txnOffsetCommit(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  if (!a.can(Op.WRITE, RT.TRANSACTIONAL_ID, req.transactionalId)) return refuse(req, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  return groupThenTopics(Op.READ)(req, ctx, a, handle, refuse);
}

async function offsetDelete(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  if (!a.can(Op.DELETE, RT.GROUP, req.groupId)) return refuse(req, ErrorCode.GROUP_AUTHORIZATION_FAILED);
  const allowed = a.allowedNames(Op.READ, RT.TOPIC, (req.topics as any[]).map((t) => t.name));
  const refusedTopics = (req.topics as any[])
    .filter((t) => !allowed.has(t.name))
    .map((t) => ({ name: t.name, partitions: (t.partitions as any[]).map((p) => ({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED })) }));
  if (refusedTopics.length === 0) return handle(req);
  const answer = await handle({ ...req, topics: (req.topics as any[]).filter((t) => allowed.has(t.name)) });
  return { ...answer, topics: [...answer.topics, ...refusedTopics] };
}

async function offsetFetch(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  if (ctx.version >= 8) {
    const groups = req.groups as any[];
    const allowedGroups = groups.filter((g) => a.can(Op.DESCRIBE, RT.GROUP, g.groupId));
    const refusedGroups = groups.filter((g) => !allowedGroups.includes(g)).map((g) => ({ groupId: g.groupId, topics: [], errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED }));
    const refusedTopicsOf = new Map<string, any[]>();
    const narrowed = allowedGroups.map((g) => {
      if (g.topics === null) return g;
      const allowed = a.allowedNames(Op.DESCRIBE, RT.TOPIC, (g.topics as any[]).map((t) => t.name));
      refusedTopicsOf.set(g.groupId, (g.topics as any[]).filter((t) => !allowed.has(t.name)));
      return { ...g, topics: (g.topics as any[]).filter((t) => allowed.has(t.name)) };
    });
    const answer = allowedGroups.length === 0 ? { throttleTimeMs: 0, groups: [] } : await handle({ ...req, groups: narrowed });
    for (const g of answer.groups as any[]) {
      if ((g.errorCode ?? 0) !== ErrorCode.NONE) continue;
      const all = narrowed.find((x) => x.groupId === g.groupId)?.topics === null;
      if (all) g.topics = (g.topics as any[]).filter((t) => a.can(Op.DESCRIBE, RT.TOPIC, t.name, false));
      for (const t of refusedTopicsOf.get(g.groupId) ?? []) {
        g.topics.push({ name: t.name, partitions: (t.partitionIndexes as number[]).map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED })) });
      }
    }
    return { ...answer, groups: [...answer.groups, ...refusedGroups] };
  }
  if (!a.can(Op.DESCRIBE, RT.GROUP, req.groupId)) return refuse(req, ErrorCode.GROUP_AUTHORIZATION_FAILED);
  if (req.topics === null || req.topics === undefined) {
    const answer = await handle(req);
    answer.topics = (answer.topics as any[]).filter((t) => a.can(Op.DESCRIBE, RT.TOPIC, t.name, false));
    return answer;
  }
  const allowed = a.allowedNames(Op.DESCRIBE, RT.TOPIC, (req.topics as any[]).map((t) => t.name));
  const refused = (req.topics as any[]).filter((t) => !allowed.has(t.name));
  if (refused.length === 0) return handle(req);
  const answer = await handle({ ...req, topics: (req.topics as any[]).filter((t) => allowed.has(t.name)) });
  const refusedTopics = refused.map((t) => ({ name: t.name, partitions: (t.partitionIndexes as number[]).map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED })) }));
  return { ...answer, topics: [...(answer.topics ?? []), ...refusedTopics] };
}

async function findCoordinator(req: any, ctx: RequestContext, a: Checks, handle: Handle): Promise<any> {
  const keyType: number = req.keyType ?? 0;
  const check = (key: string): number | null => {
    if (keyType === 0) return a.can(Op.DESCRIBE, RT.GROUP, key) ? null : ErrorCode.GROUP_AUTHORIZATION_FAILED;
    if (keyType === 1) return a.can(Op.DESCRIBE, RT.TRANSACTIONAL_ID, key) ? null : ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    return null;
  };
  if (ctx.version < 4) {
    const code = check(req.key);
    if (code === null) return handle(req);
    return { throttleTimeMs: 0, errorCode: code, errorMessage: null, nodeId: -1, host: '', port: -1, coordinators: [] };
  }
  const keys = req.coordinatorKeys as string[];
  const codes = new Map(keys.map((k) => [k, check(k)]));
  const allowed = keys.filter((k) => codes.get(k) === null);
  const refused = keys.filter((k) => codes.get(k) !== null).map((key) => ({ key, nodeId: -1, host: '', port: -1, errorCode: codes.get(key)!, errorMessage: null }));
  if (refused.length === 0) return handle(req);
  const answer = allowed.length === 0 ? { throttleTimeMs: 0, coordinators: [] } : await handle({ ...req, coordinatorKeys: allowed });
  return { ...answer, coordinators: [...answer.coordinators, ...refused] };
}

async function describeGroups(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  const allowed = a.allowedNames(Op.DESCRIBE, RT.GROUP, req.groups as string[]);
  const answer = await split(req, req.groups as string[], (g) => allowed.has(g), (gs) => ({ ...req, groups: gs }), handle, (r) => refuse(r, ErrorCode.GROUP_AUTHORIZATION_FAILED), concat('groups'));
  if (ctx.version >= 3 && req.includeAuthorizedOperations) {
    for (const g of answer.groups as any[]) if (g.errorCode === ErrorCode.NONE) g.authorizedOperations = a.ops(RT.GROUP, g.groupId);
  }
  return answer;
}

async function listGroups(req: any, _ctx: RequestContext, a: Checks, handle: Handle): Promise<any> {
  const answer = await handle(req);
  if (a.cluster(Op.DESCRIBE, false)) return answer;
  return { ...answer, groups: (answer.groups as any[]).filter((g) => a.can(Op.DESCRIBE, RT.GROUP, g.groupId, false)) };
}

async function deleteGroups(req: any, _ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  const allowed = a.allowedNames(Op.DELETE, RT.GROUP, req.groupsNames as string[]);
  return split(req, req.groupsNames as string[], (g) => allowed.has(g), (gs) => ({ ...req, groupsNames: gs }), handle, (r) => refuse(r, ErrorCode.GROUP_AUTHORIZATION_FAILED), concat('results'));
}

async function createTopics(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  const names = (req.topics as any[]).map((t) => t.name as string);
  const cluster = a.cluster(Op.CREATE, false);
  const allowed = cluster ? new Set(names) : a.allowedNames(Op.CREATE, RT.TOPIC, names);
  const answer = await split(req, req.topics as any[], (t) => allowed.has(t.name), (ts) => ({ ...req, topics: ts }), handle, (r) => refuse(r, ErrorCode.TOPIC_AUTHORIZATION_FAILED), concat('topics'));
  // v5+ answers the created topic's configs: only to a caller that may describe them.
  if (ctx.version >= 5) {
    for (const t of answer.topics as any[]) {
      if (t.errorCode === ErrorCode.NONE && !a.can(Op.DESCRIBE_CONFIGS, RT.TOPIC, t.name, false)) {
        t.topicConfigErrorCode = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        t.configs = [];
      }
    }
  }
  return answer;
}

async function deleteTopics(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  if (ctx.version < 6) {
    const names = req.topicNames as string[];
    const allowed = a.allowedNames(Op.DELETE, RT.TOPIC, names);
    return split(req, names, (n) => allowed.has(n), (ns) => ({ ...req, topicNames: ns }), handle, (r) => refuse(r, ErrorCode.TOPIC_AUTHORIZATION_FAILED), concat('responses'));
  }
  const nameOf = (t: any): string | undefined => t.name ?? ctx.broker.topics.getById(t.topicId)?.name;
  const ok = (t: any): boolean => {
    const n = nameOf(t);
    if (n === undefined) return true; // unknown: the handler answers it
    // A topic named by id that the caller may not describe: refused without saying whether it exists.
    return (t.name || a.can(Op.DESCRIBE, RT.TOPIC, n)) && a.can(Op.DELETE, RT.TOPIC, n);
  };
  const verdicts = new Map((req.topics as any[]).map((t) => [t, ok(t)]));
  return split(req, req.topics as any[], (t) => verdicts.get(t)!, (ts) => ({ ...req, topics: ts }), handle, (r) => refuse(r, ErrorCode.TOPIC_AUTHORIZATION_FAILED), concat('responses'));
}

async function initProducerId(req: any, _ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  const txnId: string | null = req.transactionalId ?? null;
  if (txnId !== null) return a.can(Op.WRITE, RT.TRANSACTIONAL_ID, txnId) ? handle(req) : refuse(req, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  // An idempotent producer: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic (KIP-679).
  if (a.cluster(Op.IDEMPOTENT_WRITE, false) || a.authorizer.authorizeByResourceType(a.who, Op.WRITE, RT.TOPIC)) return handle(req);
  a.cluster(Op.IDEMPOTENT_WRITE); // counted and logged as the refusal
  return refuse(req, ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
}

async function addPartitionsToTxn(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  if (ctx.version >= 4) return a.cluster(Op.CLUSTER_ACTION) ? handle(req) : refuse(req, ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  if (!a.can(Op.WRITE, RT.TRANSACTIONAL_ID, req.v3AndBelowTransactionalId)) return refuse(req, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
  const topics = (req.v3AndBelowTopics ?? []) as any[];
  const allowed = a.allowedNames(Op.WRITE, RT.TOPIC, topics.map((t) => t.name));
  if (topics.every((t) => allowed.has(t.name))) return handle(req);
  // Kafka adds nothing then: the refused topics TOPIC_AUTHORIZATION_FAILED, the rest OPERATION_NOT_ATTEMPTED.
  return {
    throttleTimeMs: 0,
    errorCode: ErrorCode.NONE,
    resultsByTopicV3AndBelow: topics.map((t) => ({
      name: t.name,
      resultsByPartition: (t.partitions as number[]).map((partitionIndex) => ({ partitionIndex, partitionErrorCode: allowed.has(t.name) ? ErrorCode.OPERATION_NOT_ATTEMPTED : ErrorCode.TOPIC_AUTHORIZATION_FAILED })),
    })),
    resultsByTransaction: [],
  };
}

async function offsetForLeaderEpoch(req: any, ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  if (a.cluster(Op.CLUSTER_ACTION, false)) return handle(req);
  return topicsSplit('topics', 'topics', (t) => t.topic, Op.DESCRIBE)(req, ctx, a, handle, refuse);
}

function configs(op: number, responseList: string): Guard {
  return async (req, _ctx, a, handle) => {
    const codeFor = (r: any): number | null => {
      if (r.resourceType === CONFIG_TOPIC) return a.can(op, RT.TOPIC, r.resourceName) ? null : ErrorCode.TOPIC_AUTHORIZATION_FAILED;
      if (r.resourceType === CONFIG_GROUP) return a.can(op, RT.GROUP, r.resourceName) ? null : ErrorCode.GROUP_AUTHORIZATION_FAILED;
      if (r.resourceType === CONFIG_BROKER || r.resourceType === CONFIG_BROKER_LOGGER) return a.cluster(op) ? null : ErrorCode.CLUSTER_AUTHORIZATION_FAILED;
      return null;
    };
    const resources = req.resources as any[];
    const codes = new Map(resources.map((r) => [r, codeFor(r)]));
    const refused = resources.filter((r) => codes.get(r) !== null);
    if (refused.length === 0) return handle(req);
    const allowed = resources.filter((r) => codes.get(r) === null);
    const refusedAnswers = refused.map((r) => ({ errorCode: codes.get(r)!, errorMessage: null, resourceType: r.resourceType, resourceName: r.resourceName, ...(responseList === 'results' ? { configs: [] } : {}) }));
    const answer = allowed.length === 0 ? { throttleTimeMs: 0, [responseList]: [] } : await handle({ ...req, resources: allowed });
    return { ...answer, [responseList]: [...answer[responseList], ...refusedAnswers] };
  };
}

async function describeCluster(req: any, _ctx: RequestContext, a: Checks, handle: Handle): Promise<any> {
  const answer = await handle(req);
  if (req.includeClusterAuthorizedOperations && answer.errorCode === ErrorCode.NONE) {
    answer.clusterAuthorizedOperations = a.cluster(Op.DESCRIBE) ? a.ops(RT.CLUSTER, CLUSTER_NAME) : 0;
  }
  return answer;
}

async function describeTransactions(req: any, _ctx: RequestContext, a: Checks, handle: Handle, refuse: (req: any, code: number) => any): Promise<any> {
  const allowed = a.allowedNames(Op.DESCRIBE, RT.TRANSACTIONAL_ID, req.transactionalIds as string[]);
  const answer = await split(
    req,
    req.transactionalIds as string[],
    (id) => allowed.has(id),
    (ids) => ({ ...req, transactionalIds: ids }),
    handle,
    (r) => refuse(r, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
    concat('transactionStates'),
  );
  // Only the partitions of topics the caller may describe.
  for (const s of answer.transactionStates as any[]) s.topics = (s.topics as any[]).filter((t) => a.can(Op.DESCRIBE, RT.TOPIC, t.topic, false));
  return answer;
}

async function listTransactions(req: any, _ctx: RequestContext, a: Checks, handle: Handle): Promise<any> {
  const answer = await handle(req);
  return { ...answer, transactionStates: (answer.transactionStates as any[]).filter((s) => a.can(Op.DESCRIBE, RT.TRANSACTIONAL_ID, s.transactionalId, false)) };
}
