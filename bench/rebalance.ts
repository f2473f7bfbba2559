import { Kafka, logLevel, type Consumer, type LogEntry } from 'kafkajs';
import { TransitionLog, type Transition } from './groupTransitions';
import { median } from './units';

/**
 * Rebalance time: how long a Stable group of N kafkajs members takes to be Stable again after one
 * member leaves cleanly (LeaveGroup). Timed by the coordinator's own log lines: from its
 * `Stable → PreparingRebalance` (the LeaveGroup arriving) to its `CompletingRebalance → Stable`
 * with N − 1 members (the new leader's SyncGroup). In between, every remaining member must learn
 * of the rebalance — kafkajs only learns it from a heartbeat answered REBALANCE_IN_PROGRESS, and
 * heartbeats at most once per heartbeatInterval, between fetches — then JoinGroup again, and the
 * leader must compute and send the assignment. The client's heartbeat interval is therefore a
 * floor the broker cannot beat; "beyond the client's timers" subtracts it.
 *
 * Each repetition then starts a fresh member so the group is back at N before the next leave;
 * that rebalance is waited for but not timed.
 */

export interface RebalanceSettings {
  /** kafkajs heartbeatInterval: the delay before a member can hear of a rebalance. */
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  /**
   * kafkajs maxWaitTimeInMs. kafkajs heartbeats only between fetches, and a fetch of an idle
   * topic is held this long by the broker, so it adds to the heartbeat interval; kept at or below
   * it so that it does not dominate.
   */
  fetchMaxWaitMs: number;
  /** Longest a rebalance may take before the members that did not rejoin are dropped. */
  rebalanceTimeoutMs: number;
}

export const REBALANCE_SETTINGS: RebalanceSettings = {
  heartbeatIntervalMs: 100,
  sessionTimeoutMs: 10_000,
  fetchMaxWaitMs: 100,
  rebalanceTimeoutMs: 20_000,
};

export interface RebalanceSample {
  /** Broker time from the leave (Stable → PreparingRebalance) to Stable again with N − 1 members. */
  leaveToStableMs: number;
  /** Of which: until every remaining member had rejoined (PreparingRebalance → CompletingRebalance). */
  rejoinMs: number;
  generation: number;
}

export interface RebalanceResult {
  name: string;
  members: number;
  partitions: number;
  heartbeatIntervalMs: number;
  fetchMaxWaitMs: number;
  samples: RebalanceSample[];
  /** Median leave → Stable over the samples; null when none was measured. */
  medianMs: number | null;
  /** medianMs − the client's heartbeat interval. */
  medianBeyondClientMs: number | null;
  /** Time to form the group of N at the start (not a target; for orientation). */
  formSeconds: number | null;
  ok: boolean;
  error?: string;
}

interface Member {
  consumer: Consumer;
  /** memberId and partitions from the member's latest GROUP_JOIN (its latest completed sync). */
  memberId: string;
  partitions: number[];
  crashed?: string;
}

/** kafkajs's own warnings and errors, the last few, for error reports (it would print to the console). */
class ClientLog {
  private readonly lines: string[] = [];
  readonly creator = () => (e: LogEntry): void => {
    const level = e.level === logLevel.ERROR ? 'ERROR' : e.level === logLevel.WARN ? 'WARN' : String(e.level);
    this.lines.push(`${e.log.timestamp} ${level} [${e.namespace}] ${e.log.message}${e.log.error ? `: ${String(e.log.error)}` : ''}`);
    if (this.lines.length > 40) this.lines.shift();
  };
  tail(): string {
    return this.lines.length === 0 ? '' : `\nkafkajs said (last ${this.lines.length}):\n  ${this.lines.join('\n  ')}`;
  }
}

async function waitUntil(cond: () => string | null, timeoutMs: number, what: string): Promise<void> {
  // Polled: the condition spans many members' events. 5 ms is far below what is being measured,
  // and nothing is timed by this wait (the timings come from the broker's log).
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = cond();
    if (missing === null) return;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${missing})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface RebalanceOptions {
  bootstrap: string;
  log: TransitionLog;
  /** Topic the members subscribe to (see createGroupTopic); it stays empty. */
  topic: string;
  /** The topic's partition count: a group is settled when its members' assignments cover them all once. */
  partitions: number;
  members: number;
  repeats: number;
  groupId: string;
  settings?: RebalanceSettings;
  /** Bound on each wait (forming, each rebalance); exceeding it fails the measurement. */
  stepTimeoutMs?: number;
}

/** Creates the topic the groups subscribe to (idempotent). */
export async function createGroupTopic(bootstrap: string, topic: string, partitions: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'bench-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const n = meta.topics[0]?.partitions.length ?? 0;
    if (n !== partitions) throw new Error(`topic ${topic} has ${n} partitions, expected ${partitions}`);
  } finally {
    await admin.disconnect();
  }
}

export async function measureRebalance(opts: RebalanceOptions): Promise<RebalanceResult> {
  const settings = opts.settings ?? REBALANCE_SETTINGS;
  const stepTimeoutMs = opts.stepTimeoutMs ?? 30_000;
  const { log, groupId, members: n } = opts;
  const result: RebalanceResult = {
    name: `rebalance, ${n} members`,
    members: n,
    partitions: opts.partitions,
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    fetchMaxWaitMs: settings.fetchMaxWaitMs,
    samples: [],
    medianMs: null,
    medianBeyondClientMs: null,
    formSeconds: null,
    ok: false,
  };
  const clientLog = new ClientLog();
  const kafka = new Kafka({
    clientId: `bench-${groupId}`,
    brokers: [opts.bootstrap],
    logLevel: logLevel.WARN,
    logCreator: clientLog.creator,
    retry: { retries: 10 },
  });
  const live: Member[] = [];
  const all: Member[] = [];

  const start = async (): Promise<Member> => {
    const consumer = kafka.consumer({
      groupId,
      heartbeatInterval: settings.heartbeatIntervalMs,
      sessionTimeout: settings.sessionTimeoutMs,
      rebalanceTimeout: settings.rebalanceTimeoutMs,
      maxWaitTimeInMs: settings.fetchMaxWaitMs,
      retry: { retries: 10 },
    });
    const m: Member = { consumer, memberId: '', partitions: [] };
    live.push(m);
    all.push(m);
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      m.memberId = e.payload.memberId;
      m.partitions = Object.values(e.payload.memberAssignment).flat();
    });
    consumer.on(consumer.events.CRASH, (e) => (m.crashed = String(e.payload.error)));
    await consumer.connect();
    await consumer.subscribe({ topic: opts.topic, fromBeginning: false });
    // The topic stays empty: the members only fetch (held by the broker) and heartbeat.
    await consumer.run({ eachMessage: async () => undefined });
    return m;
  };

  /** Every live member has synced the same generation: distinct ids, partitions covered exactly once. */
  const synced = (): string | null => {
    const crashed = live.find((m) => m.crashed);
    if (crashed) throw new Error(`a kafkajs member crashed: ${crashed.crashed}`);
    const ids = new Set(live.map((m) => m.memberId));
    const owned = live.flatMap((m) => m.partitions);
    if (live.some((m) => m.memberId === '')) return `${live.filter((m) => m.memberId === '').length} of ${live.length} members not yet assigned`;
    if (ids.size !== live.length) return `member ids not distinct yet`;
    if (owned.length !== opts.partitions || new Set(owned).size !== opts.partitions) {
      return `latest assignments cover ${new Set(owned).size} partitions ${owned.length} times, expected ${opts.partitions} once`;
    }
    return null;
  };

  /** Stable with `members` members (seq ≥ after), and every live member has its assignment. */
  const settled = async (after: number, what: string): Promise<Transition> => {
    const stable = await log.waitFor(groupId, after, (t) => t.to === 'Stable' && t.members === live.length, {
      timeoutMs: stepTimeoutMs,
      what,
    });
    await waitUntil(synced, stepTimeoutMs, `${what}: members' assignments`);
    return stable;
  };

  try {
    const formStart = Date.now();
    const formCursor = log.cursor();
    await Promise.all(Array.from({ length: n }, () => start()));
    let stable = await settled(formCursor, `forming a group of ${n}`);
    result.formSeconds = (Date.now() - formStart) / 1000;

    for (let r = 0; r < opts.repeats; r++) {
      // Round-robin over the members: leaders and followers both leave over the repetitions.
      const leaving = live.shift()!;
      const cursor = log.cursor();
      await leaving.consumer.disconnect();
      const what = `rebalance #${r + 1} of ${n} members after a leave`;
      // Anything but a rebalance to N − 1 (a timeout dropping members, a second leave) is a
      // measurement of something else: fail it rather than report it.
      const wrongCount = (t: Transition): boolean => t.to === 'Stable' || t.to === 'Empty';
      const left = await log.waitFor(groupId, cursor, (t) => t.from === 'Stable' && t.to === 'PreparingRebalance', {
        timeoutMs: stepTimeoutMs,
        what: `${what}: the leave`,
      });
      const rejoined = await log.waitFor(groupId, left.seq, (t) => t.to === 'CompletingRebalance', {
        timeoutMs: stepTimeoutMs,
        what: `${what}: the rejoin`,
        fail: wrongCount,
      });
      const back = await log.waitFor(groupId, rejoined.seq, (t) => t.to === 'Stable' && t.members === n - 1, {
        timeoutMs: stepTimeoutMs,
        what,
        fail: (t) => wrongCount(t) || t.to === 'PreparingRebalance',
      });
      if (rejoined.members !== n - 1 || back.generation <= stable.generation) {
        throw new Error(`${what}: expected generation > ${stable.generation} with ${n - 1} members; transitions:\n${log.describe(groupId, cursor)}`);
      }
      await waitUntil(synced, stepTimeoutMs, `${what}: members' assignments`);
      result.samples.push({ leaveToStableMs: back.atMs - left.atMs, rejoinMs: rejoined.atMs - left.atMs, generation: back.generation });

      if (r + 1 < opts.repeats) {
        const c = log.cursor();
        await start();
        stable = await settled(c, `${what}: a new member joining`);
      }
    }
    result.ok = true;
  } catch (e) {
    result.error = `${(e as Error).message}${clientLog.tail()}`;
  } finally {
    await Promise.all(all.map((m) => m.consumer.disconnect().catch(() => undefined)));
  }
  result.medianMs = median(result.samples.map((s) => s.leaveToStableMs));
  result.medianBeyondClientMs = result.medianMs === null ? null : result.medianMs - settings.heartbeatIntervalMs;
  if (!result.ok) {
    result.medianMs = null;
    result.medianBeyondClientMs = null;
  }
  return result;
}
