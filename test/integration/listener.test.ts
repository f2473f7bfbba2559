/**
 * The Kafka listener of a real broker process facing clients it cannot serve: SASL clients
 * (raw SaslHandshake, kafkajs, kcat), an HTTP client, a second broker on a taken port, a
 * privileged port, connections over max.connections / max.connections.per.ip, and a process
 * that runs out of file descriptors.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaConnection } from '../../core/client/connection';
import { ApiKey } from '../../core/protocol/generated/index';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { spawnBrokerCommand } from '../helpers/brokerCommand';
import { kcat, kcatAvailable } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';

// Not a storage test; the aws project would only repeat it.
const describeEmbedded = process.env.STRATA_TEST_BACKEND === 'aws' ? describe.skip : describe;

let broker: BrokerProcess;
const conns: KafkaConnection[] = [];
const sockets: net.Socket[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await kcatAvailable();
  broker = await startBroker();
});

afterEach(() => {
  for (const c of conns.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.destroy();
});

afterAll(async () => {
  await stopAllBrokers();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function connect(b: { host: string; port: number }): Promise<KafkaConnection> {
  const c = await KafkaConnection.connect({ host: b.host, port: b.port, clientId: 'listener-test', connectTimeoutMs: 5000 });
  conns.push(c);
  return c;
}

function rawSocket(port: number, host = '127.0.0.1'): { socket: net.Socket; closed: Promise<void> } {
  const socket = net.connect({ host, port });
  socket.on('error', () => undefined);
  sockets.push(socket);
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-listener-'));
  dirs.push(d);
  return d;
}

describeEmbedded('SaslHandshake on a PLAINTEXT listener: no SASL here, said at once', () => {
  test('raw SaslHandshake v0 and v1: UNSUPPORTED_SASL_MECHANISM, no mechanisms; the connection stays usable; SaslAuthenticate answers ILLEGAL_SASL_STATE', async () => {
    const c = await connect(broker);
    expect(c.apiVersions.get(ApiKey.SaslHandshake)).toEqual({ minVersion: 0, maxVersion: 1 });
    expect(c.apiVersions.get(ApiKey.SaslAuthenticate)).toEqual({ minVersion: 0, maxVersion: 2 });
    const auth = await c.send(ApiKey.SaslAuthenticate, { authBytes: Buffer.alloc(0) });
    expect(auth.errorCode).toBe(ErrorCode.ILLEGAL_SASL_STATE);
    for (const version of [0, 1]) {
      const res = await c.send(ApiKey.SaslHandshake, { mechanism: 'PLAIN' }, { version });
      expect(res).toEqual({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: [] });
    }
    const meta = await c.send(ApiKey.Metadata, { topics: [], allowAutoTopicCreation: false });
    expect(meta.brokers).toHaveLength(1);
    await waitFor(() => /asked for SASL mechanism PLAIN, but listener PLAINTEXT is PLAINTEXT, without SASL; answered UNSUPPORTED_SASL_MECHANISM/.test(broker.output()));
  });

  test('kafkajs with SASL PLAIN fails fast with a non-retriable UNSUPPORTED_SASL_MECHANISM', async () => {
    const kafka = new Kafka({
      clientId: 'sasl-client',
      brokers: [broker.bootstrap],
      sasl: { mechanism: 'plain', username: 'user', password: 'secret' },
      logLevel: logLevel.NOTHING,
      retry: { retries: 5 },
    });
    const admin = kafka.admin();
    const started = Date.now();
    const err = await admin.connect().then(
      () => null,
      (e: unknown) => e as Error & { type?: string; retriable?: boolean },
    );
    await admin.disconnect();
    expect(err).not.toBeNull();
    expect(err!.type).toBe('UNSUPPORTED_SASL_MECHANISM');
    expect(err!.retriable).toBe(false);
    expect(err!.message).toBe('The broker does not support the requested SASL mechanism');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('kcat (librdkafka) with SASL PLAIN names the cause instead of a transport failure', async () => {
    const r = await kcat(['-L', '-b', broker.bootstrap, '-m', '2', '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=PLAIN', '-X', 'sasl.username=u', '-X', 'sasl.password=p']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SASL PLAIN mechanism handshake failed: Broker: Unsupported SASL mechanism/);
  });
});

describeEmbedded('non-Kafka clients', () => {
  test('an HTTP request gets one clear line and a closed connection', async () => {
    const { socket, closed } = rawSocket(broker.port);
    socket.write('GET /metrics HTTP/1.1\r\nHost: broker\r\n\r\n');
    await closed;
    await waitFor(() => broker.output().includes('sent an HTTP request ("GET /metrics HTTP/1.1"): this is a Kafka listener'), { message: 'the HTTP line' });
    expect(broker.output()).not.toMatch(/request size 1195725856/);
  });
});

describeEmbedded('a listener that cannot bind', () => {
  test('a port clash names the listener, the address and --listeners; exit code 1', async () => {
    const err = await startBroker({ port: broker.port, readyTimeoutMs: 20_000 }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).not.toBeNull();
    expect(err!.message).toMatch(/it exited \(code 1\)/);
    expect(err!.message).toContain(
      `strata broker: Cannot listen on PLAINTEXT://127.0.0.1:${broker.port} (listener PLAINTEXT): the address is already in use (EADDRINUSE): ` +
        `another process holds port ${broker.port}`,
    );
    expect(err!.message).toContain('pick another port with --listeners PLAINTEXT://127.0.0.1:PORT');
  });

  test('a privileged port (as an unprivileged user) says so and how to get past it', async () => {
    const unprivilegedStart = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    if (process.getuid?.() !== 0 || !(unprivilegedStart > 80)) {
      console.warn('skipped: needs root (to drop to nobody) and port 80 privileged (net.ipv4.ip_unprivileged_port_start > 80)');
      return;
    }
    const dataDir = tempDir();
    fs.chmodSync(dataDir, 0o777);
    const b = await spawnBrokerCommand(['--data-dir', dataDir, '--listeners', 'PLAINTEXT://127.0.0.1:80'], { uid: 65534 });
    expect((await b.exited).code).toBe(1);
    expect(b.output()).toContain(
      'strata broker: Cannot listen on PLAINTEXT://127.0.0.1:80 (listener PLAINTEXT): permission denied (EACCES): ports below 1024 are privileged.',
    );
  });
});

describeEmbedded('connection limits (max.connections, max.connections.per.ip)', () => {
  test('max.connections: one over is refused with a log line; a freed slot serves again', async () => {
    const limited = await startBroker({ overrides: { 'max.connections': '2' } });
    const a = await connect(limited);
    await connect(limited);
    await expect(connect(limited)).rejects.toThrow(/connection to 127\.0\.0\.1:\d+ closed/);
    await expect(connect(limited)).rejects.toThrow(/closed/);
    await waitFor(() => /refused a connection from 127\.0\.0\.1 on PLAINTEXT:\/\/127\.0\.0\.1:\d+: the broker already has 2 connections \(max\.connections=2\)/.test(limited.output()));
    // Rate-limited: the second refusal is held back for the next line, not logged at once.
    expect(limited.output().match(/refused a connection/g)).toHaveLength(1);
    a.close();
    await waitFor(async () => {
      try {
        await connect(limited);
        return true;
      } catch {
        return false;
      }
    }, { message: 'a connection in the freed slot' });
    await limited.stop();
  });

  test('max.connections.per.ip with an override for another address', async () => {
    const limited = await startBroker({ overrides: { 'max.connections.per.ip': '1', 'max.connections.per.ip.overrides': '192.0.2.7:10' } });
    await connect(limited);
    await expect(connect(limited)).rejects.toThrow(/closed/);
    await waitFor(() => /that address already has the configured maximum of 1 connections \(max\.connections\.per\.ip=1\)/.test(limited.output()));
    await limited.stop();
  });
});

describeEmbedded('out of file descriptors', () => {
  test('EMFILE is logged with the limit and how to raise it; the broker stays up and serves once descriptors free up', async () => {
    const b = await spawnBrokerCommand(['--data-dir', tempDir(), '--listeners', 'PLAINTEXT://127.0.0.1:0'], { nofile: 48 });
    const { port } = await b.listening;
    const flood = Array.from({ length: 80 }, () => rawSocket(port));
    await waitFor(() => b.output().includes('out of file descriptors (EMFILE): all 48 file descriptors this process may open (ulimit -n) are in use'), {
      timeoutMs: 10_000,
      message: 'the EMFILE line',
    });
    expect(b.output()).toMatch(/Raise the limit: `ulimit -n 65536` in the shell that starts the broker, LimitNOFILE=65536 in its systemd unit/);
    for (const { socket } of flood) socket.destroy();
    await Promise.all(flood.map((f) => f.closed));
    // The broker sees the closes a moment later; until then a new client may still be dropped.
    let c: KafkaConnection | null = null;
    await waitFor(async () => {
      c = await connect({ host: '127.0.0.1', port });
      return true;
    }, { timeoutMs: 10_000, message: 'a connection once the flood is gone' });
    const meta = await c!.send(ApiKey.Metadata, { topics: [], allowAutoTopicCreation: false });
    expect(meta.brokers).toHaveLength(1);
    await b.stop();
  });
});
