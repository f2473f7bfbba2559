import * as net from 'node:net';
import * as tls from 'node:tls';
import { ScramServer, isScramMechanism, scramCredential, type ScramCredential } from '../../core/security/scram';
import { parsePlain, passwordMatches } from '../../core/security/saslPlain';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { RequestHeader, encodeFrame, readRequestHeader, responseHeaderVersion, writeResponseHeader } from '../../core/protocol/headers';
import { Reader, ZERO_UUID, randomUuid } from '../../core/protocol/reader';
import { Writer } from '../../core/protocol/writer';

/**
 * A tiny in-memory Kafka broker for client and CLI tests: a real TCP server on an ephemeral
 * loopback port that speaks the wire protocol through the generated codecs, keeps topics and
 * record batches in memory, and can be told to misbehave (hooks) so the client's framing,
 * pipelining and error paths can be checked against real sockets.
 *
 * Not a model of Kafka's semantics beyond what the client needs: one broker (node 0), every
 * partition led by it, offsets assigned per batch, Fetch returns whole stored batches.
 */

export interface FakeTopic {
  name: string;
  id: string;
  partitions: Array<{ batches: Buffer[]; nextOffset: bigint }>;
  configs: Record<string, string>;
}

export type HookResult =
  /** Answer with this response body (encoded at the request's version). */
  | { response: unknown }
  /** Write these bytes as the whole frame payload (after the size prefix). */
  | { rawFrame: Buffer }
  /** Never answer this request. */
  | { drop: true }
  /** Close the connection. */
  | { close: true }
  /** Handle normally. */
  | undefined;

export interface FakeBrokerOptions {
  /** Override advertised version ranges: apiKey → [min, max]; default: the codecs' full ranges. */
  versions?: Map<number, [number, number]>;
  /** Create unknown topics on Metadata with allowAutoTopicCreation (default false). */
  autoCreateTopics?: boolean;
  /** Partitions for auto-created topics / CreateTopics with -1. Default 1. */
  defaultPartitions?: number;
  /** Split every response write into chunks of this many bytes (tests reassembly). */
  writeChunkBytes?: number;
  /** Called for every request before normal handling. */
  hook?: (header: RequestHeader, request: any) => HookResult | Promise<HookResult>;
  /** Speak TLS with these server options (key, cert, ca, requestCert...). */
  tls?: tls.TlsOptions;
  /**
   * Require SASL as a Kafka SASL listener does: until a connection has authenticated it may
   * send only ApiVersions, SaslHandshake and SaslAuthenticate (anything else closes it).
   */
  sasl?: FakeSasl;
}

export interface FakeSasl {
  /** Enabled mechanisms (sasl.enabled.mechanisms). */
  mechanisms: string[];
  /** Passwords by user; SCRAM credentials are derived from them. */
  users: Record<string, string>;
  /** SaslAuthenticate v1+ session_lifetime_ms (connections.max.reauth.ms). Default 0. */
  sessionLifetimeMs?: bigint;
}

interface SaslState {
  mechanism: string | null;
  scram: ScramServer | null;
  user: string | null;
}

export class FakeBroker {
  readonly topics = new Map<string, FakeTopic>();
  /** Every request header handled, in order. */
  readonly received: RequestHeader[] = [];
  /** Request frames that arrived (counted on arrival, before any is handled). */
  framesReceived = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly saslStates = new WeakMap<net.Socket, SaslState>();
  private readonly scramCredentials = new Map<string, ScramCredential>();
  /** Successful SASL authentications, in order (user and mechanism). */
  readonly authenticated: Array<{ user: string; mechanism: string }> = [];
  /** Awaited before each SaslHandshake is answered (tests hold a re-authentication open with it). */
  onSaslHandshake: (() => Promise<void>) | null = null;
  /** TLS connections' client certificate subjects (CN), in order; null when none was sent. */
  readonly clientCertificates: Array<string | null> = [];
  private readonly waiters = new Set<() => void>();
  private frameWaiters: Array<{ n: number; resolve: () => void }> = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly opts: FakeBrokerOptions,
  ) {}

  static async start(opts: FakeBrokerOptions = {}): Promise<FakeBroker> {
    let broker!: FakeBroker;
    const server = opts.tls
      ? tls.createServer(opts.tls, (socket) => {
          const cert = socket.getPeerCertificate();
          broker.clientCertificates.push(cert && cert.subject ? String(cert.subject.CN) : null);
          broker.accept(socket);
        })
      : net.createServer((socket) => broker.accept(socket));
    // Failed TLS handshakes are the subject of some tests, not an error of the fake.
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    broker = new FakeBroker(server, (server.address() as net.AddressInfo).port, opts);
    return broker;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  createTopic(name: string, partitions: number, configs: Record<string, string> = {}): FakeTopic {
    const t: FakeTopic = { name, id: randomUuid(), partitions: [], configs };
    for (let i = 0; i < partitions; i++) t.partitions.push({ batches: [], nextOffset: 0n });
    this.topics.set(name, t);
    return t;
  }

  /** Resolves once `n` request frames have arrived in total. */
  waitForFrames(n: number): Promise<void> {
    if (this.framesReceived >= n) return Promise.resolve();
    return new Promise((resolve) => this.frameWaiters.push({ n, resolve }));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const w of this.waiters) w();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    // Answers go out in request order even when a handler waits (Fetch long-poll).
    let chain: Promise<void> = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4) {
        const size = buffered.readInt32BE(0);
        if (buffered.length < 4 + size) break;
        const frame = buffered.subarray(4, 4 + size);
        buffered = buffered.subarray(4 + size);
        this.framesReceived++;
        this.frameWaiters = this.frameWaiters.filter((w) => (w.n <= this.framesReceived ? (w.resolve(), false) : true));
        chain = chain
          .then(() => this.handle(socket, frame))
          .catch(() => {
            socket.destroy();
          });
      }
    });
  }

  private async handle(socket: net.Socket, frame: Buffer): Promise<void> {
    const r = new Reader(frame);
    const header = readRequestHeader(r);
    this.received.push(header);
    const api = API_MESSAGES.get(header.apiKey)!;
    const range = this.range(header.apiKey);
    if (header.apiKey === ApiKey.ApiVersions && (header.apiVersion < range[0] || header.apiVersion > range[1])) {
      // Kafka's answer to an ApiVersions version it does not know: UNSUPPORTED_VERSION in a v0 body.
      return this.reply(socket, header.correlationId, header.apiKey, 0, { errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: this.apiKeys() });
    }
    const request = api.readRequest(r, header.apiVersion);
    if (this.opts.sasl && header.apiKey !== ApiKey.ApiVersions) {
      const answer = await this.sasl(socket, header, request);
      if (answer === 'close') {
        socket.destroy();
        return;
      }
      if (answer !== undefined) return this.reply(socket, header.correlationId, header.apiKey, header.apiVersion, answer);
    }
    const hooked = await this.opts.hook?.(header, request);
    if (hooked && 'drop' in hooked) return;
    if (hooked && 'close' in hooked) {
      socket.destroy();
      return;
    }
    if (hooked && 'rawFrame' in hooked) return this.write(socket, encodeFrame([hooked.rawFrame]));
    if (hooked && 'response' in hooked) return this.reply(socket, header.correlationId, header.apiKey, header.apiVersion, hooked.response);
    const response = await this.respond(header, request);
    if (response === undefined) return; // acks=0
    this.reply(socket, header.correlationId, header.apiKey, header.apiVersion, response);
  }

  /** SASL requests answered here (undefined: not a SASL request, handle normally); 'close' for a request before authentication. */
  private async sasl(socket: net.Socket, h: RequestHeader, req: any): Promise<unknown | 'close' | undefined> {
    const cfg = this.opts.sasl!;
    let st = this.saslStates.get(socket);
    if (!st) {
      st = { mechanism: null, scram: null, user: null };
      this.saslStates.set(socket, st);
    }
    if (h.apiKey === ApiKey.SaslHandshake) {
      await this.onSaslHandshake?.();
      if (!cfg.mechanisms.includes(req.mechanism)) return { errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: cfg.mechanisms };
      st.mechanism = req.mechanism;
      st.scram = isScramMechanism(req.mechanism) ? new ScramServer(req.mechanism, (u) => this.scramCredential(req.mechanism, u)) : null;
      return { errorCode: 0, mechanisms: cfg.mechanisms };
    }
    if (h.apiKey === ApiKey.SaslAuthenticate) {
      const failed = (message: string) => ({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: message, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n });
      const ok = (user: string, authBytes: Buffer) => {
        st!.user = user;
        this.authenticated.push({ user, mechanism: st!.mechanism! });
        return { errorCode: 0, errorMessage: null, authBytes, sessionLifetimeMs: cfg.sessionLifetimeMs ?? 0n };
      };
      if (st.mechanism === null) return { errorCode: ErrorCode.ILLEGAL_SASL_STATE, errorMessage: 'SaslAuthenticate before SaslHandshake', authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n };
      if (st.mechanism === 'PLAIN') {
        try {
          const c = parsePlain(req.authBytes);
          const expected = cfg.users[c.user];
          if (expected === undefined || !passwordMatches(c.password, expected)) return failed('Authentication failed: Invalid username or password');
          return ok(c.user, Buffer.alloc(0));
        } catch (e) {
          return failed((e as Error).message);
        }
      }
      try {
        const out = await st.scram!.step(req.authBytes);
        return st.scram!.done ? ok(st.scram!.user!, out) : { errorCode: 0, errorMessage: null, authBytes: out, sessionLifetimeMs: 0n };
      } catch {
        return failed(`Authentication failed during authentication due to invalid credentials with SASL mechanism ${st.mechanism}`);
      }
    }
    return st.user === null ? 'close' : undefined;
  }

  private scramCredential(mechanism: string, user: string): ScramCredential | null {
    const password = this.opts.sasl!.users[user];
    if (password === undefined || !isScramMechanism(mechanism)) return null;
    const key = `${mechanism}\0${user}`;
    let c = this.scramCredentials.get(key);
    if (!c) {
      c = scramCredential(mechanism, password);
      this.scramCredentials.set(key, c);
    }
    return c;
  }

  private reply(socket: net.Socket, correlationId: number, apiKey: number, version: number, body: unknown): void {
    const w = new Writer();
    writeResponseHeader(w, correlationId, responseHeaderVersion(apiKey, version));
    API_MESSAGES.get(apiKey)!.writeResponse(w, version, body);
    this.write(socket, encodeFrame(w.toChunks()));
  }

  private write(socket: net.Socket, chunks: Buffer[]): void {
    const all = Buffer.concat(chunks);
    const step = this.opts.writeChunkBytes;
    if (!step) {
      socket.write(all);
      return;
    }
    for (let i = 0; i < all.length; i += step) socket.write(all.subarray(i, i + step));
  }

  private range(apiKey: number): [number, number] {
    const override = this.opts.versions?.get(apiKey);
    if (override) return override;
    const api = API_MESSAGES.get(apiKey)!;
    return [api.minVersion, api.latestVersionUnstable ? api.maxVersion - 1 : api.maxVersion];
  }

  private apiKeys(): Array<{ apiKey: number; minVersion: number; maxVersion: number }> {
    const keys = this.opts.versions ? [...this.opts.versions.keys()] : [...API_MESSAGES.keys()];
    return keys.map((k) => ({ apiKey: k, minVersion: this.range(k)[0], maxVersion: this.range(k)[1] }));
  }

  private async respond(h: RequestHeader, req: any): Promise<unknown> {
    switch (h.apiKey) {
      case ApiKey.ApiVersions:
        return { errorCode: 0, apiKeys: this.apiKeys(), throttleTimeMs: 0 };
      case ApiKey.Metadata:
        return this.metadata(req);
      case ApiKey.CreateTopics:
        return {
          throttleTimeMs: 0,
          topics: req.topics.map((t: any) => {
            if (this.topics.has(t.name)) return { name: t.name, errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, errorMessage: `Topic '${t.name}' already exists.` };
            if (t.numPartitions === 0 || t.numPartitions < -1) return { name: t.name, errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'Number of partitions must be larger than 0.' };
            const configs = Object.fromEntries(t.configs.map((c: any) => [c.name, c.value]));
            const topic = this.createTopic(t.name, t.numPartitions === -1 ? (this.opts.defaultPartitions ?? 1) : t.numPartitions, configs);
            return { name: t.name, topicId: topic.id, errorCode: 0, errorMessage: null, numPartitions: topic.partitions.length, replicationFactor: 1, configs: [] };
          }),
        };
      case ApiKey.DeleteTopics: {
        const names: string[] = h.apiVersion >= 6 ? req.topics.map((t: any) => t.name) : req.topicNames;
        return {
          throttleTimeMs: 0,
          responses: names.map((name) => {
            if (!this.topics.delete(name)) return { name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null };
            return { name, errorCode: 0, errorMessage: null };
          }),
        };
      }
      case ApiKey.CreatePartitions:
        return {
          throttleTimeMs: 0,
          results: req.topics.map((t: any) => {
            const topic = this.topics.get(t.name);
            if (!topic) return { name: t.name, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null };
            if (t.count <= topic.partitions.length) {
              return { name: t.name, errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Topic currently has ${topic.partitions.length} partitions, which is higher than the requested ${t.count}.` };
            }
            while (topic.partitions.length < t.count) topic.partitions.push({ batches: [], nextOffset: 0n });
            return { name: t.name, errorCode: 0, errorMessage: null };
          }),
        };
      case ApiKey.DescribeConfigs:
        return {
          throttleTimeMs: 0,
          results: req.resources.map((res: any) => {
            const topic = this.topics.get(res.resourceName);
            if (!topic) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null, resourceType: res.resourceType, resourceName: res.resourceName, configs: [] };
            const entries = [
              ...Object.entries(topic.configs).map(([name, value]) => ({ name, value, readOnly: false, isDefault: false, configSource: 1, isSensitive: false, synonyms: [] })),
              { name: 'cleanup.policy', value: 'delete', readOnly: false, isDefault: true, configSource: 5, isSensitive: false, synonyms: [] },
            ].filter((e) => !topic.configs[e.name] || e.configSource === 1);
            return { errorCode: 0, errorMessage: null, resourceType: res.resourceType, resourceName: res.resourceName, configs: entries };
          }),
        };
      case ApiKey.AlterConfigs:
      case ApiKey.IncrementalAlterConfigs:
        return {
          throttleTimeMs: 0,
          responses: req.resources.map((res: any) => {
            const topic = this.topics.get(res.resourceName);
            const base = { resourceType: res.resourceType, resourceName: res.resourceName };
            if (!topic) return { ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null };
            if (res.configs.some((c: any) => c.name === 'bad.config')) return { ...base, errorCode: ErrorCode.INVALID_CONFIG, errorMessage: 'Unknown topic config name: bad.config' };
            if (h.apiKey === ApiKey.AlterConfigs) topic.configs = {};
            for (const c of res.configs) {
              if (h.apiKey === ApiKey.IncrementalAlterConfigs && c.configOperation === 1) delete topic.configs[c.name];
              else topic.configs[c.name] = c.value;
            }
            return { ...base, errorCode: 0, errorMessage: null };
          }),
        };
      case ApiKey.DescribeCluster:
        return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, clusterId: 'fake-cluster', controllerId: 0, brokers: [{ brokerId: 0, host: '127.0.0.1', port: this.port, rack: null }] };
      case ApiKey.Produce:
        return this.produce(req);
      case ApiKey.ListOffsets:
        return {
          throttleTimeMs: 0,
          topics: req.topics.map((t: any) => ({
            name: t.name,
            partitions: t.partitions.map((p: any) => {
              const part = this.topics.get(t.name)?.partitions[p.partitionIndex];
              if (!part) return { partitionIndex: p.partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, oldStyleOffsets: [], timestamp: -1n, offset: -1n };
              const offset = p.timestamp === -2n ? 0n : part.nextOffset;
              return { partitionIndex: p.partitionIndex, errorCode: 0, oldStyleOffsets: [offset], timestamp: -1n, offset, leaderEpoch: 0 };
            }),
          })),
        };
      case ApiKey.Fetch:
        return this.fetch(h, req);
      default:
        throw new Error(`fake broker: api ${h.apiKey} not handled`);
    }
  }

  private metadata(req: any): unknown {
    let names: string[];
    if (req.topics === null || req.topics.length === 0) names = [...this.topics.keys()];
    else names = req.topics.map((t: any) => t.name);
    const topics = names.map((name) => {
      let t = this.topics.get(name);
      if (!t && req.allowAutoTopicCreation && this.opts.autoCreateTopics) t = this.createTopic(name, this.opts.defaultPartitions ?? 1);
      if (!t) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, topicId: ZERO_UUID, isInternal: false, partitions: [] };
      return {
        errorCode: 0,
        name,
        topicId: t.id,
        isInternal: false,
        partitions: t.partitions.map((_, i) => ({ errorCode: 0, partitionIndex: i, leaderId: 0, leaderEpoch: 0, replicaNodes: [0], isrNodes: [0], offlineReplicas: [] })),
      };
    });
    return { throttleTimeMs: 0, brokers: [{ nodeId: 0, host: '127.0.0.1', port: this.port, rack: null }], clusterId: 'fake-cluster', controllerId: 0, topics };
  }

  private produce(req: any): unknown {
    const responses = req.topicData.map((td: any) => ({
      name: td.name,
      partitionResponses: td.partitionData.map((pd: any) => {
        const part = this.topics.get(td.name)?.partitions[pd.index];
        if (!part) return { index: pd.index, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1n, recordErrors: [], errorMessage: null };
        const batch = Buffer.from(pd.records as Buffer); // copy: the request frame is not ours to keep
        const baseOffset = part.nextOffset;
        batch.writeBigInt64BE(baseOffset, 0); // stamp the offset; outside the CRC, as in Kafka
        part.nextOffset += BigInt(batch.readInt32BE(23) + 1); // lastOffsetDelta + 1
        part.batches.push(batch);
        return { index: pd.index, errorCode: 0, baseOffset, logAppendTimeMs: -1n, logStartOffset: 0n, recordErrors: [], errorMessage: null };
      }),
    }));
    for (const w of this.waiters) w();
    if (req.acks === 0) return undefined;
    return { responses, throttleTimeMs: 0 };
  }

  private async fetch(h: RequestHeader, req: any): Promise<unknown> {
    const byId = h.apiVersion >= 13;
    const collect = (): { responses: any[]; bytes: number; errors: number } => {
      let bytes = 0;
      let errors = 0;
      const responses = req.topics.map((t: any) => {
        const topic = byId ? [...this.topics.values()].find((x) => x.id === t.topicId) : this.topics.get(t.topic);
        return {
          topic: t.topic,
          topicId: t.topicId,
          partitions: t.partitions.map((p: any) => {
            const part = topic?.partitions[p.partition];
            const base = { partitionIndex: p.partition, lastStableOffset: -1n, logStartOffset: 0n, abortedTransactions: null, preferredReadReplica: -1 };
            if (!part) {
              errors++;
              return { ...base, errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, highWatermark: -1n, records: null };
            }
            if (p.fetchOffset > part.nextOffset || p.fetchOffset < 0n) {
              errors++;
              return { ...base, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark: part.nextOffset, records: null };
            }
            const chosen: Buffer[] = [];
            let size = 0;
            for (const b of part.batches) {
              const last = b.readBigInt64BE(0) + BigInt(b.readInt32BE(23));
              if (last < p.fetchOffset) continue;
              if (chosen.length > 0 && size + b.length > p.partitionMaxBytes) break;
              chosen.push(b);
              size += b.length;
            }
            bytes += size;
            return { ...base, errorCode: 0, highWatermark: part.nextOffset, lastStableOffset: part.nextOffset, records: chosen.length ? Buffer.concat(chosen) : null };
          }),
        };
      });
      return { responses, bytes, errors };
    };
    let result = collect();
    if (result.bytes < req.minBytes && result.errors === 0 && req.maxWaitMs > 0) {
      // Long poll: answer when a produce arrives or maxWaitMs passes, like a broker does.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, req.maxWaitMs);
        this.waiters.add(done);
      });
      result = collect();
    }
    return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: result.responses };
  }
}
