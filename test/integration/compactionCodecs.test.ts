/**
 * Compaction of compressed batches through a real broker (issue 9, done-means 5): kcat
 * (librdkafka) produces lz4, zstd, snappy and gzip batches, separate keys per codec and several
 * values per key, to a compacted topic with small segments; once the cleaner has run, only the
 * last value per key remains, and every surviving batch still has its producer's codec — the
 * batches that lost records were re-encoded with it (core/log/codecs.ts), the others copied as
 * they were. kcat then reads the cleaned log, so librdkafka decodes what the cleaner wrote.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StrataClient } from '../../core/client/client';
import type { FetchedRecord } from '../../core/client/records';
import { COMPRESSION_CODECS, COMPRESSION_MASK, ATTRIBUTES_OFFSET, RECORDS_COUNT_OFFSET } from '../../core/log/recordBatch';
import { decodeRecordBatch } from '../../core/log/recordDecoder';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcatAvailable, kcatConsumeRecords, kcatProduce } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';

let broker: BrokerProcess;
let client: StrataClient;

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker({ overrides: { 'log.cleaner.backoff.ms': '200', 'num.partitions': '1' } });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
});

afterAll(async () => {
  await client?.close();
  await stopAllBrokers();
});

const TOPIC = 'compacted-codecs';
const CODECS = ['lz4', 'zstd', 'snappy', 'gzip'] as const;
type Codec = (typeof CODECS)[number];
const KEYS = 20;
const ROUNDS = 5;

/** Every record of partition 0 up to the high watermark, as [offset, key, value]. */
async function readAll(): Promise<Array<[bigint, string | null, string | null]>> {
  const rows: Array<[bigint, string | null, string | null]> = [];
  let offset = (await client.listOffsets(TOPIC, 0, -2n)).offset;
  for (;;) {
    const r = await client.fetch(TOPIC, 0, offset, { maxWaitMs: 0, maxBytes: 4 << 20 });
    rows.push(...r.records.map((x: FetchedRecord): [bigint, string | null, string | null] => [x.offset, x.key?.toString() ?? null, x.value?.toString() ?? null]));
    if (r.nextOffset >= r.highWatermark || r.nextOffset === offset) return rows;
    offset = r.nextOffset;
  }
}

interface StoredBatchView {
  codec: string;
  recordCount: number;
  keys: string[];
}

/**
 * The batches in the partition's live segment files. Null when a file vanished while being read
 * (a cleaner swap in progress): the caller tries again.
 */
function segmentBatches(): StoredBatchView[] | null {
  const dir = path.join(broker.dataDir, 'logs', `${TOPIC}-0`);
  const out: StoredBatchView[] = [];
  try {
    for (const f of fs.readdirSync(dir).filter((n) => /^\d{20}\.log$/.test(n)).sort()) {
      const buf = fs.readFileSync(path.join(dir, f));
      for (let p = 0; p + 12 <= buf.length; ) {
        const size = 12 + buf.readInt32BE(p + 8);
        const b = buf.subarray(p, p + size);
        out.push({
          codec: COMPRESSION_CODECS[b.readInt16BE(ATTRIBUTES_OFFSET) & COMPRESSION_MASK],
          recordCount: b.readInt32BE(RECORDS_COUNT_OFFSET),
          keys: decodeRecordBatch(b).records.map((r) => r.key?.toString() ?? ''),
        });
        p += size;
      }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return out;
}

test('kcat writes lz4, zstd, snappy and gzip batches to a compacted topic; the cleaner keeps the last value per key, each in its original codec', async () => {
  await client.createTopics([
    {
      name: TOPIC,
      numPartitions: 1,
      replicationFactor: 1,
      configs: { 'cleanup.policy': 'compact', 'segment.bytes': '8192', 'min.cleanable.dirty.ratio': '0.01' },
    },
  ]);
  // Round r writes value r of every key of every codec, one kcat run (one batch) per codec;
  // the last round writes only the even keys, so the odd keys' last values sit in round
  // ROUNDS-2's batches, which lose their other records: the cleaner must re-encode those.
  const last = new Map<string, string>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const codec of CODECS) {
      const keys = Array.from({ length: KEYS }, (_, j) => j).filter((j) => r < ROUNDS - 1 || j % 2 === 0);
      const lines = keys.map((j) => {
        const key = `${codec}-k${j}`;
        const value = `${codec}-v${r}-${j}-${'abcdefgh'.repeat(8)}`;
        last.set(key, value);
        return `${key}\t${value}`;
      });
      await kcatProduce(broker.bootstrap, TOPIC, lines, { partition: 0, keyDelimiter: '\t', compression: codec, props: { 'linger.ms': '50' } });
    }
  }
  // Unique-key filler rolls every codec batch into closed (cleanable) segments.
  for (let i = 0; i < 24; i++) await client.produce(TOPIC, 0, [{ key: `fill-${i}`, value: 'f'.repeat(1000) }], { acks: 1 });
  const produced = (await readAll()).filter((r) => !r[1]!.startsWith('fill-'));
  expect(produced).toHaveLength(CODECS.length * (KEYS * (ROUNDS - 1) + KEYS / 2));

  // Produced order of the last writes, by offset: what compaction must leave.
  const lastOffsets = new Map<string, bigint>();
  for (const [offset, key] of produced) lastOffsets.set(key!, offset);
  const expected = [...lastOffsets].sort((a, b) => (a[1] < b[1] ? -1 : 1)).map(([key, offset]) => [offset, key, last.get(key)!]);

  await waitFor(
    async () => {
      const rows = (await readAll()).filter((r) => !r[1]!.startsWith('fill-'));
      return JSON.stringify(rows.map(String)) === JSON.stringify(expected.map(String));
    },
    { timeoutMs: 30_000, intervalMs: 200, message: 'the compacted topic never showed exactly the last value per key' },
  );

  // The segment files: every batch of codec keys has that codec, and the batches that lost
  // records (odd keys of round ROUNDS-2) were rewritten, not dropped or decompressed.
  let batches: StoredBatchView[] | null = null;
  await waitFor(
    () => {
      batches = segmentBatches();
      return batches !== null;
    },
    { timeoutMs: 10_000, message: 'the segment files could not be read' },
  );
  const codecBatches = batches!.filter((b) => b.keys.length > 0 && !b.keys[0].startsWith('fill-'));
  for (const codec of CODECS) {
    const mine = codecBatches.filter((b) => b.keys.some((k) => k.startsWith(`${codec}-`)));
    expect(mine.map((b) => b.codec)).toEqual(mine.map(() => codec));
    expect(mine.every((b) => b.keys.every((k) => k.startsWith(`${codec}-`)))).toBe(true);
    // Round ROUNDS-2's batch now holds the 10 odd keys; round ROUNDS-1's the 10 even ones.
    expect(mine.map((b) => b.recordCount).sort()).toEqual([KEYS / 2, KEYS / 2]);
    expect(mine.flatMap((b) => b.keys).sort()).toEqual(Array.from({ length: KEYS }, (_, j) => `${codec}-k${j}`).sort());
  }

  // librdkafka reads the batches the cleaner re-encoded.
  const viaKcat = await kcatConsumeRecords(broker.bootstrap, TOPIC, { partition: 0, timeoutMs: 30_000 });
  expect(viaKcat.filter((r) => !r.key!.startsWith('fill-')).map((r) => [r.offset, r.key, r.value])).toEqual(expected);
});
