import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { StrataClient } from '../../core/client/client';
import { startBenchBroker, type RunningBroker } from '../../bench/brokerProcess';
import { compareGroupConsume } from '../../bench/groupConsume';
import { TransitionLog } from '../../bench/groupTransitions';
import { producePhase } from '../../bench/kcatPhases';
import { writeRecordFile } from '../../bench/records';
import { BROKER_MAIN } from '../helpers/build';
import { kcatAvailable } from '../helpers/kcat';

/** kcat -G vs kcat -C on a real broker process: both verified record by record. */

let dir: string;
let broker: RunningBroker;
let log: TransitionLog;
const TOPIC = 'gc-topic';
const RECORDS = 2000;

beforeAll(async () => {
  await kcatAvailable();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-groupconsume-'));
  broker = await startBenchBroker(BROKER_MAIN, path.join(dir, 'data'), { 'group.initial.rebalance.delay.ms': '0' });
  log = new TransitionLog(broker);
  const file = path.join(dir, 'records.txt');
  writeRecordFile(file, RECORDS, 100);
  const produced = await producePhase({
    name: 'produce', bootstrap: broker.bootstrap, topic: TOPIC, file, records: RECORDS, recordSize: 100, brokerPid: broker.pid, timeoutMs: 30_000,
  });
  if (!produced.ok) throw new Error(`produce failed: ${produced.error}`);
}, 60_000);

afterAll(async () => {
  log?.close();
  await broker?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}, 30_000);

const common = () => ({ bootstrap: broker.bootstrap, brokerPid: broker.pid, log, topic: TOPIC, recordSize: 100, timeoutMs: 30_000 });

test('plain and group runs each read every record; each group run is a real member that committed and left', async () => {
  const r = await compareGroupConsume({ ...common(), records: RECORDS, rounds: 2, groupPrefix: 'gc' });
  expect(r.errors).toEqual([]);
  expect(r.ok).toBe(true);
  for (const p of [...r.plain, ...r.group]) expect(p).toMatchObject({ ok: true, records: RECORDS, expectedRecords: RECORDS });
  expect(r.plain.map((p) => p.command.includes('-G'))).toEqual([false, false]);
  expect(r.group.map((p) => p.command.slice(p.command.indexOf('-G'), p.command.indexOf('-G') + 2))).toEqual([['-G', 'gc-1'], ['-G', 'gc-2']]);
  expect(r.joins.map((j) => j.groupId)).toEqual(['gc-1', 'gc-2']);
  for (const j of r.joins) expect(j.joinMs).toBeGreaterThanOrEqual(0);
  expect(r.ratio).toBeCloseTo(r.groupRecordsPerSec! / r.plainRecordsPerSec!, 10);
  // (CPU ticks are 10 ms: a phase of 2000 records may show none.)
  expect(r.plainBrokerMicrosPerRecord).toBeGreaterThanOrEqual(0);
  expect(r.groupBrokerMicrosPerRecord).toBeGreaterThanOrEqual(0);

  // kcat committed what it read when it closed: the log end offset.
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  try {
    for (const g of ['gc-1', 'gc-2']) {
      const [committed] = await client.offsetFetch(g, [{ topic: TOPIC, partition: 0 }]);
      expect(committed?.offset).toBe(BigInt(RECORDS));
    }
  } finally {
    await client.close();
  }
}, 60_000);

test('a miscount is an error for both sides and yields no ratio', async () => {
  const r = await compareGroupConsume({ ...common(), records: RECORDS + 1, rounds: 1, groupPrefix: 'gc-miscount' });
  expect(r.ok).toBe(false);
  expect(r.ratio).toBeNull();
  expect(r.errors).toEqual([
    `consume 100 B, plain (kcat -C), round 1: consumed ${RECORDS} records, expected exactly ${RECORDS + 1}`,
    `consume 100 B, group (kcat -G), round 1: consumed ${RECORDS} records, expected exactly ${RECORDS + 1}`,
  ]);
}, 60_000);
