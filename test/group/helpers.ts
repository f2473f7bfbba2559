import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger } from '../../core/common/logger';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { GroupCoordinator, type GroupCoordinatorConfig, type JoinGroupParams, type JoinResult, type TopicLookup } from '../../core/group/coordinator';
import { encodeSubscription } from '../../core/group/consumerProtocol';
import { ErrorCode } from '../../core/protocol/errorCodes';

/**
 * A coordinator on a real embedded store in a temp dir, with short timeouts, a settable clock
 * offset, a topic table the test controls, and the log lines it wrote.
 */
export interface Harness {
  coordinator: GroupCoordinator;
  kv: EmbeddedKv;
  dir: string;
  lines: string[];
  topics: Map<string, { topicId: string; partitions: number }>;
  /** Added to Date.now() by the coordinator's clock (offset expiration tests move time forward). */
  clockSkewMs: { value: number };
  /** A new coordinator on the same store (the old one closed): a broker restart. */
  restart(config?: Partial<GroupCoordinatorConfig>): Promise<GroupCoordinator>;
  close(): Promise<void>;
}

export const TEST_CONFIG: GroupCoordinatorConfig = {
  groupMinSessionTimeoutMs: 10,
  groupMaxSessionTimeoutMs: 600_000,
  groupInitialRebalanceDelayMs: 0,
  groupMaxSize: 1000,
  offsetMetadataMaxBytes: 4096,
  offsetsRetentionMs: 7 * 24 * 3600_000,
  offsetsRetentionCheckIntervalMs: 3600_000,
};

const harnesses = new Set<Harness>();

export async function startHarness(config: Partial<GroupCoordinatorConfig> = {}): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-group-'));
  const kv = await EmbeddedKv.open(dir);
  const lines: string[] = [];
  const logger = createLogger('groups', (l) => lines.push(l));
  const topics = new Map<string, { topicId: string; partitions: number }>([
    ['t1', { topicId: 'AAAAAAAAAAAAAAAAAAAAAQ', partitions: 3 }],
    ['t2', { topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 2 }],
  ]);
  const clockSkewMs = { value: 0 };
  const lookup: TopicLookup = (name) => topics.get(name);
  const open = (c: Partial<GroupCoordinatorConfig>) =>
    GroupCoordinator.start(kv, { ...TEST_CONFIG, ...config, ...c }, { logger, topics: lookup, now: () => Date.now() + clockSkewMs.value });
  const h: Harness = {
    coordinator: await open({}),
    kv,
    dir,
    lines,
    topics,
    clockSkewMs,
    async restart(c = {}) {
      await h.coordinator.close();
      h.coordinator = await open(c);
      return h.coordinator;
    },
    async close() {
      harnesses.delete(h);
      await h.coordinator.close();
      await kv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  harnesses.add(h);
  return h;
}

/** Closes every harness a test left open (registered by the test files that use this module). */
export async function closeAllHarnesses(): Promise<void> {
  await Promise.all([...harnesses].map((h) => h.close()));
}

export function subscription(...topics: string[]): Buffer {
  return encodeSubscription(0, { topics, userData: null });
}

export function joinParams(groupId: string, p: Partial<JoinGroupParams> = {}): JoinGroupParams {
  return {
    groupId,
    memberId: '',
    groupInstanceId: null,
    requireKnownMemberId: true,
    supportSkippingAssignment: false,
    clientId: 'client',
    clientHost: '/127.0.0.1',
    rebalanceTimeoutMs: 5000,
    sessionTimeoutMs: 10_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscription('t1') }],
    reason: null,
    ...p,
  };
}

/**
 * A new dynamic member's JoinGroup the way a v4+ client does it: the first call gets
 * MEMBER_ID_REQUIRED with an id, the second (returned, still pending until the rebalance
 * completes) uses it. Resolves once the member id is known.
 */
export async function joinNew(c: GroupCoordinator, groupId: string, p: Partial<JoinGroupParams> = {}): Promise<{ memberId: string; joined: Promise<JoinResult> }> {
  const first = await c.joinGroup(joinParams(groupId, p));
  if (first.errorCode !== ErrorCode.MEMBER_ID_REQUIRED) throw new Error(`expected MEMBER_ID_REQUIRED, got ${first.errorCode}`);
  return { memberId: first.memberId, joined: c.joinGroup(joinParams(groupId, { ...p, memberId: first.memberId })) };
}

/** Whether a promise has settled, without waiting for it. */
export async function isSettled(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const v = await Promise.race([p, new Promise((r) => setImmediate(() => r(marker)))]);
  return v !== marker;
}
