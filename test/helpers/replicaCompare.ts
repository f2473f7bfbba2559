import * as fs from 'node:fs';
import * as path from 'node:path';
import { partitionDirName } from '../../core/log/logManager';
import {
  BASE_OFFSET_OFFSET,
  BATCH_LENGTH_OFFSET,
  batchHeaderProblem,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  PARTITION_LEADER_EPOCH_OFFSET,
  RECORD_BATCH_HEADER_SIZE,
} from '../../core/log/recordBatch';
import { parseSegmentFileName } from '../../core/log/segmentFiles';

/**
 * Replication tests: are the replicas of one partition the same log below the high watermark?
 * Followers copy their leader's batches byte for byte (offsets and leader epochs as the leader
 * stamped them), so committed data must be identical files' worth of batches on every replica.
 *
 * Reads a broker's data dir as it is, broker running or not: `<dataDir>/logs/<topic>-<partition>/`
 * (core/broker/broker.ts, core/log/logManager.ts), its `<20-digit base offset>.log` segments in
 * offset order (core/log/segmentFiles.ts; the cleaner's `.cleaned`/`.swap`/`.deleted` files are
 * not segments and are skipped). A segment ends at its file's end or at the first header that is
 * cut short or does not look like a v2 batch: an append in progress, a torn tail.
 */
export interface ReplicaLogSummary {
  dataDir: string;
  batches: Array<{ baseOffset: bigint; lastOffset: bigint; crc: number; partitionLeaderEpoch: number; bytes: Buffer }>;
}

type Batch = ReplicaLogSummary['batches'][number];

/** The partition's batches on one broker, in offset order. Throws when the partition directory does not exist. */
export function readReplicaBatches(dataDir: string, topic: string, partition: number): ReplicaLogSummary {
  const dir = path.join(dataDir, 'logs', partitionDirName(topic, partition));
  const segments = fs
    .readdirSync(dir)
    .map((name) => ({ name, parsed: parseSegmentFileName(name) }))
    .filter((f) => f.parsed?.ext === '.log')
    .sort((a, b) => (a.parsed!.baseOffset < b.parsed!.baseOffset ? -1 : 1));
  const batches: Batch[] = [];
  for (const { name } of segments) {
    let file: Buffer;
    try {
      file = fs.readFileSync(path.join(dir, name));
    } catch (e) {
      // Removed since listed (retention, a cleaner swap): the broker moved on, so does the reader.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    batches.push(...parseBatches(file));
  }
  return { dataDir, batches };
}

/** Whole batches from the start of a segment's bytes, up to the end or the first torn or bad one. */
function parseBatches(file: Buffer): Batch[] {
  const out: Batch[] = [];
  let pos = 0;
  while (pos + RECORD_BATCH_HEADER_SIZE <= file.length && batchHeaderProblem(file, pos, pos) === null) {
    const end = pos + LOG_OVERHEAD + file.readInt32BE(pos + BATCH_LENGTH_OFFSET);
    if (end > file.length) break;
    const baseOffset = file.readBigInt64BE(pos + BASE_OFFSET_OFFSET);
    out.push({
      baseOffset,
      lastOffset: baseOffset + BigInt(file.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET)),
      crc: file.readUInt32BE(pos + CRC_OFFSET),
      partitionLeaderEpoch: file.readInt32BE(pos + PARTITION_LEADER_EPOCH_OFFSET),
      bytes: Buffer.from(file.subarray(pos, end)),
    });
    pos = end;
  }
  return out;
}

/**
 * Compares the batches wholly below `highWatermark` (lastOffset < HW) of each replica with the
 * first one's, byte for byte. `detail` names each differing replica's first difference (its
 * offset and what differs), or how many batches matched.
 */
export function compareReplicas(
  dataDirs: string[],
  topic: string,
  partition: number,
  highWatermark: bigint,
): { identical: boolean; detail: string } {
  if (dataDirs.length === 0) throw new Error('compareReplicas: no data dirs');
  const [reference, ...others] = dataDirs.map((d) => {
    const s = readReplicaBatches(d, topic, partition);
    return { dataDir: d, batches: s.batches.filter((b) => b.lastOffset < highWatermark) };
  });
  const differences = others.flatMap((other) => {
    const d = firstDifference(reference, other);
    return d === null ? [] : [`${other.dataDir} differs from ${reference.dataDir} ${d}`];
  });
  if (differences.length > 0) return { identical: false, detail: differences.join('; ') };
  const n = reference.batches.length;
  const range = n === 0 ? 'none' : `offsets ${reference.batches[0].baseOffset}..${reference.batches[n - 1].lastOffset}`;
  return {
    identical: true,
    detail: `${dataDirs.length} replicas: ${n} batches below high watermark ${highWatermark} match (${range})`,
  };
}

function firstDifference(a: ReplicaLogSummary, b: ReplicaLogSummary): string | null {
  const n = Math.max(a.batches.length, b.batches.length);
  for (let i = 0; i < n; i++) {
    const x = a.batches[i];
    const y = b.batches[i];
    if (x === undefined) return `at offset ${y.baseOffset}: extra batch ${span(y)} (the reference ends at ${lastOf(a)})`;
    if (y === undefined) return `at offset ${x.baseOffset}: batch ${span(x)} missing (it ends at ${lastOf(b)})`;
    if (x.bytes.equals(y.bytes)) continue;
    const offset = x.baseOffset < y.baseOffset ? x.baseOffset : y.baseOffset;
    const what = [
      x.baseOffset !== y.baseOffset || x.lastOffset !== y.lastOffset ? `offsets ${y.baseOffset}..${y.lastOffset} vs ${x.baseOffset}..${x.lastOffset}` : null,
      x.partitionLeaderEpoch !== y.partitionLeaderEpoch ? `leader epoch ${y.partitionLeaderEpoch} vs ${x.partitionLeaderEpoch}` : null,
      x.crc !== y.crc ? `crc ${hex(y.crc)} vs ${hex(x.crc)}` : null,
      x.bytes.length !== y.bytes.length ? `${y.bytes.length} vs ${x.bytes.length} bytes` : null,
    ].filter((s) => s !== null);
    return `at offset ${offset} (batch ${i} below the HW): ${what.length > 0 ? what.join(', ') : 'bytes differ'}`;
  }
  return null;
}

const span = (b: Batch): string => `${b.baseOffset}..${b.lastOffset}`;
const lastOf = (s: ReplicaLogSummary): string => (s.batches.length === 0 ? 'no batch' : `offset ${s.batches[s.batches.length - 1].lastOffset}`);
const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
