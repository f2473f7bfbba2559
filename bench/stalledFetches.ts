import * as fs from 'fs';
import * as net from 'net';
import type { FetchRequest } from '../core/protocol/generated/FetchRequest';
import { API_MESSAGES, ApiKey } from '../core/protocol/generated/index';
import { writeRequestHeader } from '../core/protocol/headers';
import { Writer } from '../core/protocol/writer';

/**
 * Slow consumers, as the broker sees them: raw TCP connections that each send one large Fetch
 * request and then never read the socket. Their responses fill the kernel's socket buffers (the
 * client's receive queue and the broker's send queue) and then stall; whatever else the broker
 * would hold for them — bytes read into memory, a buffered chunk waiting in Node's write queue —
 * shows in its RSS, and whatever they cost its event loop shows in how fast a normal consumer is
 * served meanwhile. Encoded with the project's own protocol codecs (the same ones core/client
 * uses), Fetch v4: the oldest version Strata serves, no fetch sessions, no tagged fields.
 *
 * The connections are watched from outside through /proc/net/tcp (the broker runs on loopback in
 * the same network namespace, so both ends of each connection are listed): "stalled" means every
 * connection has response bytes queued and nothing moved between two polls.
 */

export const STALLED_FETCH_VERSION = 4;

export interface FetchRequestSpec {
  topic: string;
  partition: number;
  offset: bigint;
  /** The response's limit (max_bytes). */
  maxBytes: number;
  /** The partition's limit (partition_max_bytes). */
  partitionMaxBytes: number;
  correlationId: number;
  clientId?: string;
  /** Fetch version, 4 unless told (v4–v11 need nothing but what is given here). */
  version?: number;
}

/** One size-prefixed Fetch request frame, as a client would put it on the wire. */
export function encodeFetchRequest(spec: FetchRequestSpec): Buffer {
  const version = spec.version ?? STALLED_FETCH_VERSION;
  const api = API_MESSAGES.get(ApiKey.Fetch)!;
  const request: FetchRequest = {
    replicaId: -1,
    maxWaitMs: 500,
    minBytes: 1,
    maxBytes: spec.maxBytes,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic: spec.topic,
        partitions: [
          {
            partition: spec.partition,
            currentLeaderEpoch: -1,
            fetchOffset: spec.offset,
            lastFetchedEpoch: -1,
            logStartOffset: -1n,
            partitionMaxBytes: spec.partitionMaxBytes,
          },
        ],
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
  };
  const w = new Writer();
  writeRequestHeader(w, { apiKey: ApiKey.Fetch, apiVersion: version, correlationId: spec.correlationId, clientId: spec.clientId ?? 'strata-bench-stalled' });
  api.writeRequest(w, version, request);
  const body = w.toBuffer();
  const size = Buffer.allocUnsafe(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

/** One line of /proc/net/tcp: the ports and what the kernel holds queued on that socket. */
export interface TcpSocketQueues {
  localPort: number;
  remotePort: number;
  /** TCP state, e.g. 0x01 ESTABLISHED, 0x08 CLOSE_WAIT, 0x0A LISTEN. */
  state: number;
  /** Bytes written but not yet acknowledged by the peer (sent or not). */
  txQueue: number;
  /** Bytes received but not yet read by the application. */
  rxQueue: number;
}

export const TCP_ESTABLISHED = 0x01;

/** Parses /proc/net/tcp (or tcp6): one entry per socket line; the header and malformed lines are skipped. */
export function parseProcNetTcp(text: string): TcpSocketQueues[] {
  const out: TcpSocketQueues[] = [];
  for (const line of text.split('\n')) {
    // "  12: 0100007F:8CA1 0100007F:2328 01 00000000:0001F000 00:00000000 00000000  1000 ..."
    const m = /^\s*\d+:\s+[0-9A-Fa-f]+:([0-9A-Fa-f]{4})\s+[0-9A-Fa-f]+:([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{2})\s+([0-9A-Fa-f]+):([0-9A-Fa-f]+)\s/.exec(line);
    if (!m) continue;
    out.push({
      localPort: parseInt(m[1]!, 16),
      remotePort: parseInt(m[2]!, 16),
      state: parseInt(m[3]!, 16),
      txQueue: parseInt(m[4]!, 16),
      rxQueue: parseInt(m[5]!, 16),
    });
  }
  return out;
}

/** Every IPv4 and IPv6 TCP socket of this network namespace. */
export function readTcpSockets(): TcpSocketQueues[] {
  const out: TcpSocketQueues[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      out.push(...parseProcNetTcp(fs.readFileSync(file, 'utf8')));
    } catch {
      // no IPv6, or no /proc
    }
  }
  return out;
}

/** One stalled connection, as the kernel sees both of its ends. */
export interface StalledConnectionState {
  clientPort: number;
  /** Response bytes waiting in this end's receive queue (never read). */
  clientRx: number;
  /** Response bytes the broker wrote that the client's side has not acknowledged (its send queue). */
  brokerTx: number;
  /** Both ends ESTABLISHED (the broker did not close it, the client did not). */
  established: boolean;
}

/**
 * Matches each client port with its two /proc/net/tcp entries: the client's end (local = client
 * port, remote = broker port) and the broker's (the other way round). A connection whose entries
 * are missing is reported with zero queues, not established.
 */
export function connectionStates(sockets: TcpSocketQueues[], brokerPort: number, clientPorts: number[]): StalledConnectionState[] {
  const key = (local: number, remote: number): string => `${local}>${remote}`;
  const byEnds = new Map<string, TcpSocketQueues>();
  for (const s of sockets) byEnds.set(key(s.localPort, s.remotePort), s);
  return clientPorts.map((port) => {
    const client = byEnds.get(key(port, brokerPort));
    const broker = byEnds.get(key(brokerPort, port));
    return {
      clientPort: port,
      clientRx: client?.rxQueue ?? 0,
      brokerTx: broker?.txQueue ?? 0,
      established: client?.state === TCP_ESTABLISHED && broker?.state === TCP_ESTABLISHED,
    };
  });
}

/** Every connection established with response bytes queued, and nothing moved since the previous reading. */
export function isStalled(previous: StalledConnectionState[] | null, current: StalledConnectionState[]): boolean {
  if (previous === null || previous.length !== current.length) return false;
  return current.every((c, i) => {
    const p = previous[i]!;
    return c.established && c.clientRx + c.brokerTx > 0 && p.clientPort === c.clientPort && p.clientRx === c.clientRx && p.brokerTx === c.brokerTx;
  });
}

export interface StalledFetches {
  connections: number;
  /** The kernel's view of every connection now. */
  states(): StalledConnectionState[];
  /**
   * Closes every connection (idempotent) and waits (at most `timeoutMs`) until the broker's ends
   * are no longer established, so that what follows does not overlap the broker's clean-up.
   */
  close(timeoutMs?: number): Promise<void>;
}

export interface StalledFetchOptions {
  host: string;
  port: number;
  topic: string;
  partition: number;
  connections: number;
  maxBytes: number;
  partitionMaxBytes: number;
  /** How long the responses may take to fill the socket buffers and stall. */
  timeoutMs: number;
  pollMs?: number;
}

/**
 * Opens `connections` connections, sends each one Fetch from offset 0 and never reads; resolves
 * once they have all stalled (see isStalled), with their queues as the kernel reports them. On
 * failure every connection is closed before the rejection.
 */
export async function openStalledFetches(opts: StalledFetchOptions): Promise<{ fetches: StalledFetches; stalled: StalledConnectionState[]; waitedMs: number }> {
  const sockets: net.Socket[] = [];
  let closed = false;
  const ports = (): number[] => sockets.map((s) => s.localPort ?? -1);
  const states = (): StalledConnectionState[] => connectionStates(readTcpSockets(), opts.port, ports());
  const pollMs = opts.pollMs ?? 200;
  const close = async (timeoutMs = 5000): Promise<void> => {
    if (closed) return;
    closed = true;
    const open = ports();
    // With unread bytes in its receive queue, a closing socket resets the connection: the broker
    // learns at once.
    for (const s of sockets) s.destroy();
    const deadline = Date.now() + timeoutMs;
    const brokerEnds = (): number => readTcpSockets().filter((t) => t.localPort === opts.port && open.includes(t.remotePort) && t.state === TCP_ESTABLISHED).length;
    // Polling interval of a bounded wait, not a synchronisation sleep.
    while (brokerEnds() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, 50)));
  };
  try {
    await Promise.all(
      Array.from({ length: opts.connections }, (_, i) => {
        return new Promise<void>((resolve, reject) => {
          const s = net.connect({ host: opts.host, port: opts.port });
          sockets.push(s);
          // Paused before it connects, Node never starts reading the socket: the response stays
          // in the kernel until the receive window closes, and then at the broker.
          s.pause();
          s.setNoDelay(true);
          // A reset or the broker closing shows in /proc/net/tcp; the error must not crash us.
          s.on('error', () => undefined);
          s.once('connect', () => {
            s.write(
              encodeFetchRequest({
                topic: opts.topic,
                partition: opts.partition,
                offset: 0n,
                maxBytes: opts.maxBytes,
                partitionMaxBytes: opts.partitionMaxBytes,
                correlationId: i + 1,
              }),
              (err) => (err ? reject(err) : resolve()),
            );
          });
          s.once('close', () => reject(new Error(`stalled connection ${i + 1} closed before its request was sent`)));
        });
      }),
    );
    const started = Date.now();
    let previous: StalledConnectionState[] | null = null;
    for (;;) {
      if (closed) throw new Error('closed while waiting for the responses to stall');
      const current = states();
      if (isStalled(previous, current)) {
        return { fetches: { connections: sockets.length, states, close }, stalled: current, waitedMs: Date.now() - started };
      }
      if (Date.now() - started >= opts.timeoutMs) {
        const notEstablished = current.filter((c) => !c.established).length;
        const empty = current.filter((c) => c.clientRx + c.brokerTx === 0).length;
        throw new Error(
          `the ${opts.connections} fetches did not stall within ${opts.timeoutMs} ms ` +
            `(${notEstablished} connections not established, ${empty} with no response bytes queued)`,
        );
      }
      previous = current;
      // Polling interval of a bounded wait (the kernel's queues settle in milliseconds).
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  } catch (e) {
    await close();
    throw e;
  }
}
