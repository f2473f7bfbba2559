import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { startBenchBroker } from '../../bench/brokerProcess';
import { waitFor } from '../helpers/waitFor';

// The same stand-in the test helpers use: the broker's process contract without Kafka.
const FAKE = path.join(__dirname, '..', 'helpers', 'fixtures', 'fakeBroker.js');

describe('startBenchBroker', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-broker-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('starts on an ephemeral port with the overrides and stops with SIGTERM', async () => {
    const b = await startBenchBroker(FAKE, dir, { 'num.partitions': '1' });
    expect(b.bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);
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
