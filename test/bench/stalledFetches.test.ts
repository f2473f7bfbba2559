import * as net from 'net';
import {
  connectionStates,
  encodeFetchRequest,
  isStalled,
  openStalledFetches,
  parseProcNetTcp,
  readTcpSockets,
  StalledConnectionState,
  TCP_ESTABLISHED,
} from '../../bench/stalledFetches';

const MiB = 1024 * 1024;

/** Fetch v4 laid out by hand from Kafka's FetchRequest.json (request header v1, no tagged fields). */
function fetchV4ByHand(topic: string, correlationId: number, clientId: string, maxBytes: number, partitionMaxBytes: number): Buffer {
  const parts: Buffer[] = [];
  const i8 = (v: number) => parts.push(Buffer.from([v]));
  const i16 = (v: number) => parts.push(Buffer.from([(v >> 8) & 0xff, v & 0xff]));
  const i32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    parts.push(b);
  };
  const i64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    parts.push(b);
  };
  const str = (s: string) => {
    i16(Buffer.byteLength(s));
    parts.push(Buffer.from(s));
  };
  i16(1); // api key: Fetch
  i16(4); // api version
  i32(correlationId);
  str(clientId);
  i32(-1); // replica_id
  i32(500); // max_wait_ms
  i32(1); // min_bytes
  i32(maxBytes); // max_bytes (v3+)
  i8(0); // isolation_level (v4+)
  i32(1); // topics
  str(topic);
  i32(1); // partitions
  i32(0); // partition
  i64(0n); // fetch_offset
  i32(partitionMaxBytes);
  const body = Buffer.concat(parts);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

describe('stalled fetches: pure parts', () => {
  it('encodes Fetch v4 byte for byte as Kafka lays it out', () => {
    const frame = encodeFetchRequest({
      topic: 'bench-zero-copy-1024',
      partition: 0,
      offset: 0n,
      maxBytes: 55 * MiB,
      partitionMaxBytes: 55 * MiB,
      correlationId: 7,
      clientId: 'c',
    });
    expect(frame.equals(fetchV4ByHand('bench-zero-copy-1024', 7, 'c', 55 * MiB, 55 * MiB))).toBe(true);
    expect(frame.readInt32BE(0)).toBe(frame.length - 4);
    // The default client id is the benchmark's own.
    expect(encodeFetchRequest({ topic: 't', partition: 0, offset: 0n, maxBytes: 1, partitionMaxBytes: 1, correlationId: 1 }).toString('latin1')).toContain(
      'strata-bench-stalled',
    );
  });

  it('parses /proc/net/tcp lines: ports, state and both queues, skipping the header', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
      '   1: 0100007F:D0C2 0100007F:2328 01 00000000:0001F435 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
      '  12: 0100007F:2328 0100007F:D0C2 01 003A0C00:00000000 01:00000014 00000000     0        0 3 2 0 20 4 30 10 -1',
      'garbage',
      '',
    ].join('\n');
    expect(parseProcNetTcp(text)).toEqual([
      { localPort: 9000, remotePort: 0, state: 0x0a, txQueue: 0, rxQueue: 0 },
      { localPort: 0xd0c2, remotePort: 9000, state: TCP_ESTABLISHED, txQueue: 0, rxQueue: 0x1f435 },
      { localPort: 9000, remotePort: 0xd0c2, state: TCP_ESTABLISHED, txQueue: 0x3a0c00, rxQueue: 0 },
    ]);
  });

  it('pairs each client port with both ends of its connection', () => {
    const sockets = [
      { localPort: 9000, remotePort: 0, state: 0x0a, txQueue: 0, rxQueue: 0 },
      { localPort: 50001, remotePort: 9000, state: 1, txQueue: 0, rxQueue: 128 },
      { localPort: 9000, remotePort: 50001, state: 1, txQueue: 4000, rxQueue: 0 },
      { localPort: 50002, remotePort: 9000, state: 8, txQueue: 0, rxQueue: 64 }, // CLOSE_WAIT: the broker closed it
      // Another server's connection with the same client port number does not count.
      { localPort: 50001, remotePort: 7000, state: 1, txQueue: 0, rxQueue: 999 },
    ];
    expect(connectionStates(sockets, 9000, [50001, 50002, 50003])).toEqual([
      { clientPort: 50001, clientRx: 128, brokerTx: 4000, established: true },
      { clientPort: 50002, clientRx: 64, brokerTx: 0, established: false },
      { clientPort: 50003, clientRx: 0, brokerTx: 0, established: false },
    ]);
  });

  it('stalled = every connection established with bytes queued, and nothing moved since the last reading', () => {
    const state = (clientRx: number, brokerTx: number, established = true): StalledConnectionState => ({ clientPort: 1, clientRx, brokerTx, established });
    expect(isStalled(null, [state(10, 20)])).toBe(false); // one reading is not enough
    expect(isStalled([state(10, 20)], [state(10, 20)])).toBe(true);
    expect(isStalled([state(10, 10)], [state(10, 20)])).toBe(false); // still moving
    expect(isStalled([state(0, 0)], [state(0, 0)])).toBe(false); // no response (yet)
    expect(isStalled([state(10, 20, false)], [state(10, 20, false)])).toBe(false); // closed
    expect(isStalled([state(10, 20)], [state(10, 20), state(10, 20)])).toBe(false);
  });
});

describe('stalled fetches on a real socket', () => {
  let server: net.Server;
  let received: Buffer[];
  let serverSockets: net.Socket[];
  /** true: answer each request with 16 MiB (more than the socket buffers hold); false: never answer. */
  let answer: boolean;

  beforeEach(async () => {
    received = [];
    serverSockets = [];
    answer = true;
    server = net.createServer((s) => {
      serverSockets.push(s);
      s.on('error', () => undefined);
      s.once('data', (d) => {
        received.push(d);
        if (!answer) return;
        const chunk = Buffer.alloc(MiB, 7);
        let left = 16;
        const more = (): void => {
          while (left > 0 && !s.destroyed) {
            left--;
            if (!s.write(chunk)) return void s.once('drain', more);
          }
        };
        more();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    for (const s of serverSockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends one Fetch per connection, never reads, and resolves once every response has stalled; close() ends them', async () => {
    const port = (server.address() as net.AddressInfo).port;
    const { fetches, stalled, waitedMs } = await openStalledFetches({
      host: '127.0.0.1',
      port,
      topic: 'some-topic',
      partition: 0,
      connections: 3,
      maxBytes: 55 * MiB,
      partitionMaxBytes: 55 * MiB,
      timeoutMs: 10_000,
      pollMs: 50,
    });
    try {
      expect(fetches.connections).toBe(3);
      expect(waitedMs).toBeLessThan(10_000);
      // Each connection got exactly one request: the frame for its correlation id.
      const requests = received.map((d) => d.toString('hex')).sort();
      const expected = [1, 2, 3]
        .map((id) => encodeFetchRequest({ topic: 'some-topic', partition: 0, offset: 0n, maxBytes: 55 * MiB, partitionMaxBytes: 55 * MiB, correlationId: id }).toString('hex'))
        .sort();
      expect(requests).toEqual(expected);
      expect(stalled).toHaveLength(3);
      for (const c of stalled) {
        expect(c.established).toBe(true);
        // Something is queued, and far less than the 16 MiB answer: the rest waits in the server.
        expect(c.clientRx + c.brokerTx).toBeGreaterThan(0);
        expect(c.clientRx + c.brokerTx).toBeLessThan(16 * MiB);
      }
      // Nothing is read meanwhile: the queues stay where they stalled.
      expect(fetches.states()).toEqual(stalled);
    } finally {
      await fetches.close();
    }
    const ports = stalled.map((c) => c.clientPort);
    expect(readTcpSockets().filter((t) => t.localPort === port && ports.includes(t.remotePort) && t.state === TCP_ESTABLISHED)).toEqual([]);
    await fetches.close(); // idempotent
  }, 20_000);

  it('fails (and closes its connections) when the responses never come', async () => {
    answer = false;
    const port = (server.address() as net.AddressInfo).port;
    await expect(
      openStalledFetches({ host: '127.0.0.1', port, topic: 't', partition: 0, connections: 2, maxBytes: MiB, partitionMaxBytes: MiB, timeoutMs: 300, pollMs: 50 }),
    ).rejects.toThrow(/did not stall within 300 ms \(0 connections not established, 2 with no response bytes queued\)/);
    expect(readTcpSockets().filter((t) => t.localPort === port && t.state === TCP_ESTABLISHED)).toEqual([]);
  });
});
