import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { listenersOf, startBenchBroker } from '../../bench/brokerProcess';
import { waitFor } from '../helpers/waitFor';

// The same stand-in the test helpers use: the broker's process contract without Kafka.
const FAKE = path.join(__dirname, '..', 'helpers', 'fixtures', 'fakeBroker.js');

describe('listenersOf', () => {
  it('reads every bound listener of the ready line by name, not the advertised ones after it', () => {
    const line =
      '2026-12-07T22:05:38.963Z INFO  [broker] listening on PLAINTEXT://127.0.0.1:35919, SASL_SSL://127.0.0.1:45765 (node.id=0, cluster.id=x, ' +
      'advertised PLAINTEXT://broker.example:9092, SASL_SSL://broker.example:9093, inter-broker listener PLAINTEXT, data /tmp/d, metadata embedded:, object store file:)';
    expect(listenersOf(line)).toEqual({ PLAINTEXT: '127.0.0.1:35919', SASL_SSL: '127.0.0.1:45765' });
    expect(listenersOf('[info] broker: listening on PLAINTEXT://127.0.0.1:9092')).toEqual({ PLAINTEXT: '127.0.0.1:9092' });
    expect(listenersOf('listening on INTERNAL://[::1]:9093 (node.id=1)')).toEqual({ INTERNAL: '[::1]:9093' });
    expect(listenersOf('metrics on http://127.0.0.1:9404/metrics')).toBeNull();
  });
});

describe('startBenchBroker', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-broker-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('starts on an ephemeral port with the overrides and stops with SIGTERM', async () => {
    const b = await startBenchBroker(FAKE, dir, { 'num.partitions': '1' });
    expect(b.bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(b.listeners).toEqual({ PLAINTEXT: b.bootstrap });
    const [host, port] = b.bootstrap.split(':');
    await new Promise<void>((resolve, reject) => net.connect(Number(port), host).on('connect', resolve).on('error', reject));
    expect(fs.readFileSync(path.join(dir, 'starts'), 'utf8')).toContain('--override num.partitions=1');
    expect(await b.stop()).toBe(0);
    expect(b.output()).toContain('SIGTERM received');
  });

  it('passes extra flags and environment (the AWS backends and their endpoints)', async () => {
    const main = path.join(dir, 'env.js');
    fs.writeFileSync(
      main,
      `const net = require('net');
      require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'seen.json'))}, JSON.stringify({ argv: process.argv.slice(2), env: process.env.STRATA_BENCH_TEST, path: !!process.env.PATH }));
      const s = net.createServer().listen(0, '127.0.0.1', () => console.log('listening on PLAINTEXT://127.0.0.1:' + s.address().port));
      process.on('SIGTERM', () => process.exit(0));`,
    );
    const b = await startBenchBroker(main, dir, { a: '1' }, 20_000, { args: ['--object-store', 's3://b/p'], env: { STRATA_BENCH_TEST: 'yes' } });
    expect(await b.stop()).toBe(0);
    const seen = JSON.parse(fs.readFileSync(path.join(dir, 'seen.json'), 'utf8'));
    expect(seen.argv).toEqual(['broker', '--data-dir', dir, '--listeners', 'PLAINTEXT://127.0.0.1:0', '--object-store', 's3://b/p', '--override', 'a=1']);
    expect(seen.env).toBe('yes');
    expect(seen.path).toBe(true); // added to the environment, not replacing it
  });

  it('starts with several listeners: the first is the bootstrap, each one\'s address by name', async () => {
    const main = path.join(dir, 'two.js');
    fs.writeFileSync(
      main,
      `const net = require('net');
      require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'argv.json'))}, JSON.stringify(process.argv.slice(2)));
      const a = net.createServer().listen(0, '127.0.0.1', () => {
        const b = net.createServer().listen(0, '127.0.0.1', () =>
          console.log('INFO listening on PLAINTEXT://127.0.0.1:' + a.address().port + ', SASL_SSL://127.0.0.1:' + b.address().port + ' (node.id=0, advertised PLAINTEXT://elsewhere:1)'));
      });
      process.on('SIGTERM', () => process.exit(0));`,
    );
    const b = await startBenchBroker(main, dir, {}, 20_000, { listeners: 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0' });
    expect(await b.stop()).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'argv.json'), 'utf8')).slice(3, 5)).toEqual(['--listeners', 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0']);
    expect(Object.keys(b.listeners)).toEqual(['PLAINTEXT', 'SASL_SSL']);
    expect(b.listeners.PLAINTEXT).toBe(b.bootstrap);
    expect(b.listeners.SASL_SSL).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(b.listeners.SASL_SSL).not.toBe(b.bootstrap);
  });

  it('hands every later output line to onLine subscribers, whole and in order', async () => {
    // A broker that prints lines in pieces, on stdout and stderr, after its ready line.
    const main = path.join(dir, 'chatty.js');
    fs.writeFileSync(
      main,
      `const net = require('net');
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        console.log('listening on PLAINTEXT://127.0.0.1:' + s.address().port);
        process.stdin.resume();
        setTimeout(() => {
          process.stdout.write('first li');
          setTimeout(() => { process.stdout.write('ne\\nsecond line\\nthi'); process.stderr.write('on stderr\\n'); }, 50);
          setTimeout(() => process.stdout.write('rd line\\n'), 100);
        }, 200);
      });
      process.on('SIGTERM', () => process.exit(0));`,
    );
    const b = await startBenchBroker(main, dir, {});
    const lines: string[] = [];
    const unsubscribe = b.onLine((l) => lines.push(l));
    await waitFor(() => lines.length >= 4, { timeoutMs: 15_000, message: `4 lines, got ${JSON.stringify(lines)}` });
    unsubscribe();
    expect(lines.filter((l) => l !== 'on stderr')).toEqual(['first line', 'second line', 'third line']);
    expect(lines).toContain('on stderr');
    expect(await b.stop()).toBe(0);
  });

  it('reports a broker that exits before it is ready, with its output', async () => {
    const main = path.join(dir, 'failing.js');
    fs.writeFileSync(main, 'console.error("fatal: pretend config error"); process.exit(3);');
    await expect(startBenchBroker(main, dir, {})).rejects.toThrow(/exited \(code 3\)[\s\S]*pretend config error/);
  });

  it('says to build when the entry point is missing', async () => {
    await expect(startBenchBroker(path.join(dir, 'nope.js'), dir, {})).rejects.toThrow(/npm run build/);
  });
});
