import { StrataClient } from '../core/client/client';
import { TransitionLog } from './groupTransitions';
import { consumePhase, PhaseResult } from './kcatPhases';
import { median, sizeLabel } from './units';

/**
 * Consuming through a consumer group vs reading the partition directly, both with kcat on the
 * same single-partition topic: `kcat -G <group>` (librdkafka's KafkaConsumer: FindCoordinator,
 * JoinGroup, SyncGroup, OffsetFetch, then the same Fetch requests, and on exit a commit and
 * LeaveGroup) against `kcat -C -p 0 -o 0`. Each round uses a new group whose offset for the
 * partition is committed as 0 beforehand (an admin commit through core/client), so the member resumes from a committed
 * offset as group consumers usually do (see consumeCommand for why not `-o beginning`).
 *
 * Rounds alternate plain and group so that a disturbance on this shared machine hits both alike;
 * each side reports its median. Every run is verified like the other consume phases (offsets
 * 0…n−1, sizes, count), and each group run must show in the coordinator's log as a group that
 * became Stable with one member and ended Empty.
 */

export interface GroupJoin {
  groupId: string;
  /** Broker time from the member's first JoinGroup (Empty → PreparingRebalance) to Stable. */
  joinMs: number;
}

export interface GroupConsumeResult {
  topic: string;
  records: number;
  recordSize: number;
  plain: PhaseResult[];
  group: PhaseResult[];
  joins: GroupJoin[];
  /** Medians over the rounds (valid runs only); null when a side has none. */
  plainRecordsPerSec: number | null;
  groupRecordsPerSec: number | null;
  /** group ÷ plain (medians). */
  ratio: number | null;
  /** Broker CPU time per record (µs), median per side: whether the group path costs the broker more. */
  plainBrokerMicrosPerRecord: number | null;
  groupBrokerMicrosPerRecord: number | null;
  ok: boolean;
  errors: string[];
}

export interface GroupConsumeOptions {
  bootstrap: string;
  brokerPid: number;
  log: TransitionLog;
  topic: string;
  records: number;
  recordSize: number;
  rounds: number;
  timeoutMs: number;
  /** Prefix of the group ids, one new group per round. */
  groupPrefix?: string;
  progress?: (message: string) => void;
}

const brokerMicrosPerRecord = (p: PhaseResult): number => (p.broker.cpuSeconds / Math.max(p.records, 1)) * 1e6;

export async function compareGroupConsume(opts: GroupConsumeOptions): Promise<GroupConsumeResult> {
  const r: GroupConsumeResult = {
    topic: opts.topic,
    records: opts.records,
    recordSize: opts.recordSize,
    plain: [],
    group: [],
    joins: [],
    plainRecordsPerSec: null,
    groupRecordsPerSec: null,
    ratio: null,
    plainBrokerMicrosPerRecord: null,
    groupBrokerMicrosPerRecord: null,
    ok: false,
    errors: [],
  };
  const common = {
    bootstrap: opts.bootstrap,
    topic: opts.topic,
    records: opts.records,
    recordSize: opts.recordSize,
    brokerPid: opts.brokerPid,
    timeoutMs: opts.timeoutMs,
  };
  const size = sizeLabel(opts.recordSize);
  // Not kafkajs's admin.setOffsets: it joins the group with a consumer and waits out a fetch (5 s).
  const admin = new StrataClient({ bootstrapServers: [opts.bootstrap], clientId: 'bench-admin' });
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      opts.progress?.(`consume ${opts.records} × ${size} from ${opts.topic}, plain then as a group (round ${round} of ${opts.rounds})…`);
      const plain = await consumePhase({ ...common, name: `consume ${size}, plain (kcat -C), round ${round}` });
      r.plain.push(plain);
      if (!plain.ok) r.errors.push(`${plain.name}: ${plain.error}`);

      const groupId = `${opts.groupPrefix ?? 'bench-consume'}-${round}`;
      await admin.offsetCommit(groupId, [{ topic: opts.topic, partition: 0, offset: 0n }]);
      const cursor = opts.log.cursor();
      const group = await consumePhase({ ...common, name: `consume ${size}, group (kcat -G), round ${round}`, groupId });
      r.group.push(group);
      if (group.ok) {
        try {
          r.joins.push(await checkGroupLifecycle(opts.log, groupId, cursor));
        } catch (e) {
          group.ok = false;
          group.error = (e as Error).message;
        }
      }
      if (!group.ok) r.errors.push(`${group.name}: ${group.error}`);
    }
  } catch (e) {
    // Committing the start offset failed: the remaining rounds can't run.
    r.errors.push(`group consume: committing offset 0: ${(e as Error).message}`);
  } finally {
    await admin.close().catch(() => undefined);
  }
  const okPlain = r.plain.filter((p) => p.ok);
  const okGroup = r.group.filter((p) => p.ok);
  r.plainRecordsPerSec = median(okPlain.map((p) => p.recordsPerSec));
  r.groupRecordsPerSec = median(okGroup.map((p) => p.recordsPerSec));
  r.plainBrokerMicrosPerRecord = median(okPlain.map(brokerMicrosPerRecord));
  r.groupBrokerMicrosPerRecord = median(okGroup.map(brokerMicrosPerRecord));
  if (r.plainRecordsPerSec !== null && r.groupRecordsPerSec !== null && r.plainRecordsPerSec > 0) {
    r.ratio = r.groupRecordsPerSec / r.plainRecordsPerSec;
  }
  r.ok = r.errors.length === 0 && r.ratio !== null;
  return r;
}

/**
 * kcat really consumed as a group member: the coordinator took the group from Empty to Stable
 * with one member and, after kcat's LeaveGroup, back to Empty. Returns the join time.
 */
async function checkGroupLifecycle(log: TransitionLog, groupId: string, cursor: number): Promise<GroupJoin> {
  // kcat has exited: its lines are written, at most still in the broker's stdout pipe.
  const wait = { timeoutMs: 5000, fail: (t: { to: string }) => t.to === 'Dead' };
  const joined = await log.waitFor(groupId, cursor, (t) => t.from === 'Empty' && t.to === 'PreparingRebalance', { ...wait, what: `group ${groupId} forming` });
  const stable = await log.waitFor(groupId, joined.seq, (t) => t.to === 'Stable', { ...wait, what: `group ${groupId} becoming Stable` });
  if (stable.members !== 1) throw new Error(`group ${groupId} became Stable with ${stable.members} members, expected 1:\n${log.describe(groupId, cursor)}`);
  await log.waitFor(groupId, stable.seq, (t) => t.to === 'Empty', { ...wait, what: `group ${groupId} emptied by kcat's LeaveGroup` });
  return { groupId, joinMs: stable.atMs - joined.atMs };
}
