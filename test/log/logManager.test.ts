/**
 * LogManager's removal of deleted partitions' directories: the temporary `…-delete` name fits
 * in 255 bytes for every legal topic name, a removal that fails is logged and retried until
 * done (and never takes the directory of a topic re-created under the same name), and a
 * broker starting finishes what an earlier process left.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LogManager, deleteDirName } from '../../core/log/logManager';
import { memoryLogger } from '../tier/tierHelpers';
import { makeTmpDir, removeDir, smallConfig, batch } from './helpers';

const ID_A = 'AAAAAAAAAAAAAAAAAAAAAQ';
const ID_B = 'AAAAAAAAAAAAAAAAAAAAAg';

let dir: string;
let logger: ReturnType<typeof memoryLogger>;
let logs: LogManager;

beforeEach(() => {
  dir = makeTmpDir('strata-logmanager-');
  logger = memoryLogger();
  logs = new LogManager(dir, { retentionCheckIntervalMs: 1000, cleanerBackoffMs: 1000, cleaner: null, logger });
});

afterEach(() => removeDir(dir));

const entries = (): string[] => fs.readdirSync(dir).sort();

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

test("the deletion name is Kafka's `<topic>-<partition>.<id>-delete`, the topic cut short to fit 255 bytes", () => {
  expect(deleteDirName('orders', 3, ID_A)).toBe(`orders-3.${ID_A}-delete`);
  const long = 'x'.repeat(249);
  const name = deleteDirName(long, 2147483647, ID_A);
  expect(name.length).toBe(255);
  expect(name.endsWith(`-2147483647.${ID_A}-delete`)).toBe(true);
  expect(name.startsWith('x'.repeat(200))).toBe(true);
});

test('a partition of a 249-character topic is dropped from disk', async () => {
  const topic = 't'.repeat(249);
  const log = logs.openLog(topic, ID_A, 0, smallConfig());
  log.append(batch({ count: 3 }), { leaderEpoch: 0 });
  expect(entries()).toEqual([`${topic}-0`]);
  logs.dropLog(log, topic, 0, ID_A);
  await until(() => entries().length === 0);
  expect(logs.pendingDeletions).toBe(0);
  expect(logger.lines.filter((l) => l.startsWith('WARN'))).toEqual([]);
});

test('a failed removal is logged and retried until done', async () => {
  const log = logs.openLog('orders', ID_A, 0, smallConfig());
  log.append(batch({ count: 3 }), { leaderEpoch: 0 });
  // Something in the way of the rename.
  const obstacle = path.join(dir, deleteDirName('orders', 0, ID_A));
  fs.writeFileSync(obstacle, 'in the way');
  logs.dropLog(log, 'orders', 0, ID_A);
  expect(logs.pendingDeletions).toBe(1);
  expect(logger.lines.some((l) => l.startsWith('WARN') && l.includes('orders-0') && l.includes('retried later'))).toBe(true);
  expect(await logs.retryDeletions()).toBe(1);
  expect(entries()).toContain('orders-0');

  fs.rmSync(obstacle);
  expect(await logs.retryDeletions()).toBe(0);
  expect(entries()).toEqual([]);
  expect(logger.lines.some((l) => l.startsWith('INFO') && l.includes('left by a deleted partition'))).toBe(true);
});

test('a retry leaves alone a directory a re-created topic of the same name has taken over', async () => {
  const old = logs.openLog('orders', ID_A, 0, smallConfig());
  const obstacle = path.join(dir, deleteDirName('orders', 0, ID_A));
  fs.writeFileSync(obstacle, 'in the way');
  logs.dropLog(old, 'orders', 0, ID_A);
  expect(logs.pendingDeletions).toBe(1);
  // The topic is created again: its log replaces the old directory.
  const fresh = logs.openLog('orders', ID_B, 0, smallConfig());
  fresh.append(batch({ count: 2 }), { leaderEpoch: 0 });
  expect(await logs.retryDeletions()).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'orders-0', 'partition.metadata'), 'utf8')).toContain(ID_B);
  expect(fresh.logEndOffset).toBe(2n);
  fresh.close();
});

test('at start, leftovers of deletions are removed (old and new names) and unknown directories reported', () => {
  fs.mkdirSync(path.join(dir, `orders-0.${ID_A}-delete`));
  fs.writeFileSync(path.join(dir, `orders-0.${ID_A}-delete`, '00000000000000000000.log'), 'x');
  fs.mkdirSync(path.join(dir, deleteDirName('y'.repeat(249), 1, ID_B)));
  fs.mkdirSync(path.join(dir, 'stray-0'));
  logs.removeStaleDirs(() => false);
  expect(entries()).toEqual(['stray-0']);
  expect(logger.lines.some((l) => l.includes('ignoring') && l.includes('stray-0'))).toBe(true);
});
