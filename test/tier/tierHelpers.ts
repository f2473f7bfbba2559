import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { StrataError } from '../../core/common/errors';
import type { Logger } from '../../core/common/logger';
import { PartitionLog, type LogConfig } from '../../core/log/partitionLog';
import { decodeRecordBatches } from '../../core/log/recordDecoder';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { FileObjectStore } from '../../core/tier/fileObjectStore';
import type { ByteRange, ObjectInfo, ObjectStore } from '../../core/tier/objectStore';
import type { TierTopicConfig } from '../../core/tier/tierConfig';
import { batch, smallConfig } from '../log/helpers';

/** Shared fixtures for the core/tier tests: real stores in temp dirs, a store that fails on demand. */

export const TOPIC_ID = 'AAAAAAAAAAAAAAAAAAAAAQ';

export type FaultMode = 'ok' | 'fail' | 'hang';

/**
 * An ObjectStore that passes calls to a real one, or fails them on demand: 'fail' rejects at
 * once with STORE_UNAVAILABLE (a refused connection), 'hang' never answers (a black hole).
 * `failPuts`/`failGets` restrict the fault to writes or reads. Counts calls and tracks how
 * many .log puts run at once.
 */
export class FlakyObjectStore implements ObjectStore {
  mode: FaultMode = 'ok';
  failPuts = true;
  failGets = true;
  failDeletes = true;
  /** Called before each put with its key; throwing from it fails that put. */
  beforePut: ((key: string) => void | Promise<void>) | null = null;
  readonly calls = { put: 0, get: 0, head: 0, list: 0, delete: 0 };
  readonly gets: string[] = [];
  readonly deletes: string[] = [];
  /** Simulated latency of every GET (an S3 round trip), in ms. */
  getDelayMs = 0;
  logPutsInFlight = 0;
  maxLogPutsInFlight = 0;
  private readonly hung: (() => void)[] = [];

  constructor(readonly inner: ObjectStore) {}

  private fault(op: 'put' | 'get' | 'delete' | 'other'): Promise<never> | null {
    const applies = op === 'put' ? this.failPuts : op === 'get' ? this.failGets : op === 'delete' ? this.failDeletes : true;
    if (this.mode === 'ok' || !applies) return null;
    if (this.mode === 'fail') return Promise.reject(new StrataError('STORE_UNAVAILABLE', `injected ${op} failure`));
    return new Promise<never>((_, reject) => this.hung.push(() => reject(new StrataError('STORE_UNAVAILABLE', 'released hung call'))));
  }

  /** Rejects every hung call (so nothing stays pending after a test). */
  releaseHung(): void {
    for (const r of this.hung.splice(0)) r();
  }

  async put(key: string, body: Buffer | Readable, opts?: { contentLength?: number }): Promise<void> {
    this.calls.put++;
    const f = this.fault('put');
    if (f) {
      if (!Buffer.isBuffer(body)) body.destroy();
      return f;
    }
    if (this.beforePut) await this.beforePut(key);
    const isLog = key.endsWith('.log');
    if (isLog) this.maxLogPutsInFlight = Math.max(this.maxLogPutsInFlight, ++this.logPutsInFlight);
    try {
      await this.inner.put(key, body, opts);
    } finally {
      if (isLog) this.logPutsInFlight--;
    }
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    this.calls.get++;
    this.gets.push(key);
    const f = this.fault('get');
    if (f) return f;
    if (this.getDelayMs > 0) await new Promise((r) => setTimeout(r, this.getDelayMs));
    return this.inner.get(key, range);
  }

  async head(key: string): Promise<{ size: number } | null> {
    this.calls.head++;
    const f = this.fault('other');
    if (f) return f;
    return this.inner.head(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    this.calls.list++;
    const f = this.fault('other');
    if (f) {
      return {
        [Symbol.asyncIterator]: () => ({ next: () => f }),
      };
    }
    return this.inner.list(prefix);
  }

  async delete(key: string): Promise<void> {
    this.calls.delete++;
    this.deletes.push(key);
    const f = this.fault('delete');
    if (f) return f;
    return this.inner.delete(key);
  }

  async close(): Promise<void> {
    this.releaseHung();
    await this.inner.close();
  }
}

export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** A temp dir with a file object store and an embedded metadata store, both outside any log dir. */
export class TierEnv {
  readonly root: string;
  readonly tierDir: string;
  readonly metaDir: string;
  files!: FileObjectStore;
  objects!: FlakyObjectStore;
  meta!: KvMetadataStore;
  private readonly logs: PartitionLog[] = [];

  private constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tiertest-'));
    this.tierDir = path.join(this.root, 'tier');
    this.metaDir = path.join(this.root, 'meta');
  }

  static async create(): Promise<TierEnv> {
    const env = new TierEnv();
    await env.openStores();
    return env;
  }

  async openStores(): Promise<void> {
    this.files = await FileObjectStore.open(this.tierDir);
    this.objects = new FlakyObjectStore(this.files);
    this.meta = new KvMetadataStore(await EmbeddedKv.open(this.metaDir));
  }

  async closeStores(): Promise<void> {
    await this.objects.close();
    await this.meta.close();
  }

  /** Opens (creating) a partition log in `<root>/<name>`, closed by destroy(). */
  openLog(name = 'data/t-0', config: Partial<LogConfig> = {}): PartitionLog {
    const log = PartitionLog.open(path.join(this.root, name), smallConfig(config), { logger: () => undefined });
    this.logs.push(log);
    return log;
  }

  async destroy(): Promise<void> {
    for (const l of this.logs) l.close();
    this.objects.releaseHung();
    await this.closeStores().catch(() => undefined);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Appends `batches` batches of `perBatch` records with values `${label}-${offset-ish}` padded to `valueSize`. */
export function fill(log: PartitionLog, batches: number, opts: { perBatch?: number; valueSize?: number; label?: string; timestamp?: bigint } = {}): void {
  for (let i = 0; i < batches; i++) {
    const base = log.logEndOffset;
    log.append(batch({ count: opts.perBatch ?? 5, label: `${opts.label ?? 'v'}${base}`, valueSize: opts.valueSize ?? 100, timestamp: opts.timestamp }), { leaderEpoch: 0 });
  }
}

/** Records of concatenated batches as [offset, value] pairs. */
export function decode(records: Buffer[]): [bigint, string][] {
  return decodeRecordBatches(Buffer.concat(records)).flatMap((b) => b.records.map((r): [bigint, string] => [r.offset, r.value?.toString() ?? '']));
}

/** Tiering on, delete policy, no time limits, no size limits unless given. */
export function tierConfig(overrides: Partial<TierTopicConfig> = {}): TierTopicConfig {
  return {
    remoteStorageEnable: true,
    deleteRetention: true,
    retentionMs: -1,
    retentionBytes: -1,
    localRetentionMs: -2,
    localRetentionBytes: -2,
    ...overrides,
  };
}

/** A Logger that keeps lines in memory. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const make = (prefix: string): Logger & { lines: string[] } => ({
    lines,
    debugEnabled: false,
    debug: () => undefined,
    info: (m) => lines.push(`INFO ${prefix}${m}`),
    warn: (m) => lines.push(`WARN ${prefix}${m}`),
    error: (m) => lines.push(`ERROR ${prefix}${m}`),
    child: (c) => make(`${prefix}[${c}] `),
  });
  return make('');
}

/** A controllable clock. */
export function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (ms) => (t = ms) };
}
