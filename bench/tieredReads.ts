import * as fs from 'fs';
import * as path from 'path';
import { ConfigResourceType, StrataClient } from '../core/client/client';
import { READ_CACHE_DEFAULTS } from '../core/tier/readCache';
import { RunningBroker, startBenchBroker } from './brokerProcess';
import { BenchEmulators, startEmulators } from './emulators';
import { consumePhase, PhaseResult, producePhase } from './kcatPhases';
import { readMemory, UsageSampler, ProcessUsage } from './rss';
import { listObjects, rangedGets, s3Client, S3GetResult, S3Target } from './s3Get';
import { MiB, median, secondsSince } from './units';
import { EARLIEST_LOCAL_TIMESTAMP as EARLIEST_LOCAL, LATEST_TIERED_TIMESTAMP as LATEST_TIERED, LATEST_TIMESTAMP as LATEST } from '../core/protocol/listOffsetsTimestamps';

/**
 * Cold vs hot reads on a broker whose backends are the AWS emulators (dynalite, s3rver):
 *
 * - the same records are produced (kcat) into two single-partition topics of the same shape
 *   (segment.bytes = `segmentBytes`): `bench-tier-cold` with remote.storage.enable=true and
 *   local.retention.bytes=0, `bench-tier-hot` without remote storage;
 * - the cold topic's active segment is closed (segment.ms set to 1 ms: the broker's housekeeping
 *   rolls it), then the phase waits until ListOffsets says every offset is tiered
 *   (LATEST_TIERED = end − 1) and none is local (EARLIEST_LOCAL = end): a read from 0 is then
 *   served wholly from s3rver, through the broker's read cache;
 * - an unmeasured warm-up reads the last tenth of each topic (the broker's remote-read path is
 *   new code to its JIT, as its fetch path was to the first broker's); only when the data is
 *   well over the read cache's size, so that the chunks it cached are evicted long before the
 *   first measured cold read reaches them;
 * - rounds alternate a hot read and a cold read (`kcat -C -p 0 -o 0 -e`, verified record by
 *   record like the other consume phases); the data is larger than the read cache, so every
 *   round's cold read misses the cache (an LRU over a sequential scan longer than itself keeps
 *   nothing the next scan reaches in time) — the broker's read(2) bytes during the phase
 *   (/proc/<pid>/io rchar) confirm it;
 * - then, with the broker idle, the emulator's own ceiling: plain ranged GETs of the tiered
 *   objects at the read cache's chunk size (s3Get.ts), one at a time and as many in flight as the
 *   cache's read-ahead allows.
 *
 * The emulators' CPU is sampled during every read, and taken out of "other CPU": on two cores
 * s3rver competes with the broker and kcat, which is part of what this phase shows.
 */

export const COLD_TOPIC = 'bench-tier-cold';
export const HOT_TOPIC = 'bench-tier-hot';

export interface TierRead {
  phase: PhaseResult;
  /** s3rver's CPU and memory during the read. */
  s3rver: ProcessUsage;
  /** dynalite's CPU during the read (metadata: next to nothing while reading). */
  dynamo: ProcessUsage;
  /** Bytes the broker read through read(2) during the phase (sockets and files), null if unreadable. */
  brokerReadBytes: number | null;
}

export interface TierGetLimit extends S3GetResult {
  s3rver: ProcessUsage;
}

export interface TieredReadsResult {
  records: number;
  recordSize: number;
  segmentBytes: number;
  /** The broker's read cache (its defaults: the broker has no flags for them). */
  cache: { chunkBytes: number; maxBytes: number; readAheadChunks: number; maxPrefetches: number };
  produce: PhaseResult[];
  /** Unmeasured reads of each topic's last tenth (empty when the data is too small to evict them). */
  warmup: PhaseResult[];
  tiering: {
    /** From the end of the cold produce until every offset was tiered and none local. */
    seconds: number;
    /** Tiered segment objects (.log) and their bytes, as listed in the bucket. */
    segments: number;
    bytes: number;
    /** Bytes left in the cold partition's local directory once tiered. */
    localBytes: number;
  } | null;
  hot: TierRead[];
  cold: TierRead[];
  gets: TierGetLimit[];
  /** Medians over the valid rounds; null when a side has none. */
  hotMbPerSec: number | null;
  coldMbPerSec: number | null;
  /** cold ÷ hot (medians). */
  ratio: number | null;
  /** The broker serving the cold reads: its VmHWM before it stopped. */
  brokerPeakRssBytes: number | null;
  brokerStopExitCode: number | null | undefined;
  ok: boolean;
  errors: string[];
  warnings: string[];
}

export interface TieredReadsOptions {
  /** Repository root (the emulator launcher). */
  root: string;
  /** The benchmark's temp dir: the broker's data dir and s3rver's go under it. */
  workDir: string;
  /** dist/core/cli/main.js */
  brokerMain: string;
  overrides: Record<string, string>;
  /** Record file for kcat -P -l (one record per line, `recordSize` bytes each). */
  file: string;
  records: number;
  recordSize: number;
  /** Above the producer's largest batch (kcat's: ~1 MB): a batch larger than segment.bytes is refused. */
  segmentBytes: number;
  rounds: number;
  /** Per kcat run. */
  timeoutMs: number;
  /** For the wait until everything is tiered. */
  tieringTimeoutMs: number;
  progress?: (message: string) => void;
}

/** Bytes the process read through read(2)-like calls (rchar: sockets and files), null if unreadable. */
export function readCharsOf(pid: number): number | null {
  try {
    const m = /^rchar:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Sum of the sizes of the files in `dir` (not recursive); 0 if it does not exist. */
export function dirBytes(dir: string): number {
  let n = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const st = fs.statSync(path.join(dir, name));
      if (st.isFile()) n += st.size;
    } catch {
      // deleted while listing
    }
  }
  return n;
}

function stripEmulators(p: PhaseResult, emulatorCores: number): void {
  if (p.otherCpu) p.otherCpu = { ...p.otherCpu, otherCores: Math.max(0, p.otherCpu.otherCores - emulatorCores) };
}

/** One verified kcat read from offset 0, with the emulators' CPU and the broker's read bytes. */
async function timedRead(
  broker: RunningBroker,
  emu: BenchEmulators,
  opts: TieredReadsOptions,
  name: string,
  topic: string,
): Promise<TierRead> {
  const s3 = new UsageSampler(emu.s3Pid);
  const dynamo = new UsageSampler(emu.dynamoPid);
  const readBefore = readCharsOf(broker.pid);
  const phase = await consumePhase({
    name,
    bootstrap: broker.bootstrap,
    topic,
    records: opts.records,
    recordSize: opts.recordSize,
    brokerPid: broker.pid,
    timeoutMs: opts.timeoutMs,
  }).finally(() => {
    s3.stop();
    dynamo.stop();
  });
  const readAfter = readCharsOf(broker.pid);
  const read: TierRead = {
    phase,
    s3rver: s3.stop(),
    dynamo: dynamo.stop(),
    brokerReadBytes: readBefore === null || readAfter === null ? null : readAfter - readBefore,
  };
  stripEmulators(phase, read.s3rver.cpuCores + read.dynamo.cpuCores);
  return read;
}

async function waitUntilTiered(client: StrataClient, end: bigint, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const [latest, local, tiered] = await Promise.all(
      [LATEST, EARLIEST_LOCAL, LATEST_TIERED].map((ts) => client.listOffsets(COLD_TOPIC, 0, ts).then((r) => r.offset)),
    );
    if (latest !== end) throw new Error(`${COLD_TOPIC} ends at ${latest}, expected ${end}`);
    if (local === end && tiered === end - 1n) return;
    last = `local log start ${local}, last tiered offset ${tiered}, end ${end}`;
    if (Date.now() >= deadline) throw new Error(`${COLD_TOPIC} was not wholly tiered within ${timeoutMs} ms (${last})`);
    // Polling interval of a bounded wait (uploads take seconds), not a synchronisation sleep.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function measureTieredReads(opts: TieredReadsOptions): Promise<TieredReadsResult> {
  const progress = opts.progress ?? (() => undefined);
  const result: TieredReadsResult = {
    records: opts.records,
    recordSize: opts.recordSize,
    segmentBytes: opts.segmentBytes,
    cache: {
      chunkBytes: READ_CACHE_DEFAULTS.chunkBytes,
      maxBytes: READ_CACHE_DEFAULTS.maxBytes,
      readAheadChunks: READ_CACHE_DEFAULTS.readAheadChunks,
      maxPrefetches: READ_CACHE_DEFAULTS.maxPrefetches,
    },
    produce: [],
    warmup: [],
    tiering: null,
    hot: [],
    cold: [],
    gets: [],
    hotMbPerSec: null,
    coldMbPerSec: null,
    ratio: null,
    brokerPeakRssBytes: null,
    brokerStopExitCode: undefined,
    ok: false,
    errors: [],
    warnings: [],
  };
  const errors = result.errors;
  let emu: BenchEmulators | null = null;
  let broker: RunningBroker | null = null;
  let client: StrataClient | null = null;
  try {
    progress('tiered reads: starting the AWS emulators (dynalite, s3rver)…');
    emu = await startEmulators({ root: opts.root, workDir: opts.workDir });
    const dataDir = path.join(opts.workDir, 'data-tiered');
    fs.mkdirSync(dataDir, { recursive: true });
    progress('tiered reads: starting a broker on them…');
    broker = await startBenchBroker(opts.brokerMain, dataDir, opts.overrides, 30_000, {
      args: ['--metadata', emu.metadataUrl, '--object-store', emu.objectStoreUrl],
      env: emu.env,
    });
    client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
    const shape = { 'segment.bytes': String(opts.segmentBytes), 'retention.ms': '-1', 'retention.bytes': '-1' };
    await client.createTopics([
      { name: COLD_TOPIC, numPartitions: 1, replicationFactor: 1, configs: { ...shape, 'remote.storage.enable': 'true', 'local.retention.bytes': '0' } },
      { name: HOT_TOPIC, numPartitions: 1, replicationFactor: 1, configs: shape },
    ]);

    for (const topic of [HOT_TOPIC, COLD_TOPIC]) {
      progress(`tiered reads: produce ${opts.records} × ${opts.recordSize} B to ${topic}…`);
      const p = await producePhase({
        name: `produce to ${topic}`,
        bootstrap: broker.bootstrap,
        topic,
        file: opts.file,
        records: opts.records,
        recordSize: opts.recordSize,
        brokerPid: broker.pid,
        timeoutMs: opts.timeoutMs,
      });
      result.produce.push(p);
      if (!p.ok) throw new Error(`produce to ${topic}: ${p.error}`);
    }

    progress(`tiered reads: waiting until ${COLD_TOPIC} is wholly tiered and dropped locally…`);
    const producedAt = process.hrtime.bigint();
    // Close the active segment too (the broker's housekeeping rolls a segment older than segment.ms).
    await client.incrementalAlterConfigs({ type: ConfigResourceType.TOPIC, name: COLD_TOPIC }, [{ name: 'segment.ms', op: 'set', value: '1' }]);
    await waitUntilTiered(client, BigInt(opts.records), opts.tieringTimeoutMs);
    const tieringSeconds = secondsSince(producedAt);
    // The tiered segments' .log objects: the bytes a cold read fetches (the indexes are small).
    const target: S3Target = {
      endpoint: emu.s3Endpoint,
      region: emu.env.AWS_REGION!,
      accessKeyId: emu.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: emu.env.AWS_SECRET_ACCESS_KEY!,
      bucket: emu.bucket,
      prefix: `${emu.prefix}/`,
      suffix: '.log',
    };
    const s3 = s3Client(target);
    const objects = await listObjects(s3, target).finally(() => s3.destroy());
    result.tiering = {
      seconds: tieringSeconds,
      segments: objects.length,
      bytes: objects.reduce((n, o) => n + o.size, 0),
      localBytes: dirBytes(path.join(dataDir, 'logs', `${COLD_TOPIC}-0`)),
    };

    if (opts.records * opts.recordSize >= 1.5 * result.cache.maxBytes) {
      const from = opts.records - Math.ceil(opts.records / 10);
      for (const topic of [HOT_TOPIC, COLD_TOPIC]) {
        progress(`tiered reads: warm-up, ${topic} from offset ${from}…`);
        const w = await consumePhase({
          name: `warm-up ${topic}`,
          bootstrap: broker.bootstrap,
          topic,
          fromOffset: from,
          records: opts.records - from,
          recordSize: opts.recordSize,
          brokerPid: broker.pid,
          timeoutMs: opts.timeoutMs,
        });
        result.warmup.push(w);
        if (!w.ok) throw new Error(`warm-up read of ${topic}: ${w.error}`);
      }
    }

    for (let round = 1; round <= opts.rounds; round++) {
      for (const [side, topic] of [['hot', HOT_TOPIC], ['cold', COLD_TOPIC]] as const) {
        progress(`tiered reads: ${side} read ${round}/${opts.rounds} of ${topic}…`);
        const r = await timedRead(broker, emu, opts, `${side} read #${round}`, topic);
        result[side].push(r);
        if (!r.phase.ok) errors.push(`${r.phase.name}: ${r.phase.error}`);
        else if (side === 'cold' && r.brokerReadBytes !== null && r.brokerReadBytes < 0.9 * result.tiering.bytes) {
          result.warnings.push(
            `${r.phase.name}: the broker read only ${r.brokerReadBytes} bytes for ${result.tiering.bytes} tiered: part of it came from the read cache, not from S3`,
          );
        }
      }
    }

    // The emulator's ceiling, with the broker idle: the cache's chunk size, serially and with
    // as many GETs in flight as one reader's read-ahead can have.
    for (const inFlight of [1, result.cache.maxPrefetches]) {
      progress(`tiered reads: s3rver ranged GETs, ${result.cache.chunkBytes / MiB} MiB, ${inFlight} in flight…`);
      const sampler = new UsageSampler(emu.s3Pid);
      try {
        const g = await rangedGets(target, result.cache.chunkBytes, inFlight).finally(() => sampler.stop());
        result.gets.push({ ...g, s3rver: sampler.stop() });
      } catch (e) {
        errors.push(`S3 emulator ranged GETs (${inFlight} in flight): ${(e as Error).message}`);
      }
    }
  } catch (e) {
    errors.push(`tiered reads: ${(e as Error).message}`);
  } finally {
    await client?.close().catch(() => undefined);
    if (broker) {
      result.brokerPeakRssBytes = readMemory(broker.pid)?.hwmBytes ?? null;
      progress('tiered reads: stopping the broker and the emulators…');
      result.brokerStopExitCode = await broker.stop();
      if (result.brokerStopExitCode !== 0) {
        errors.push(`tiered-reads broker exited with ${result.brokerStopExitCode} after SIGTERM; its last output:\n${broker.output().slice(-3000)}`);
      }
    }
    await emu?.stop();
  }
  const mbps = (reads: TierRead[]): number | null => median(reads.filter((r) => r.phase.ok).map((r) => r.phase.mbPerSec));
  result.hotMbPerSec = mbps(result.hot);
  result.coldMbPerSec = mbps(result.cold);
  result.ratio = result.hotMbPerSec && result.coldMbPerSec !== null ? result.coldMbPerSec / result.hotMbPerSec : null;
  result.ok = errors.length === 0 && result.ratio !== null;
  return result;
}
