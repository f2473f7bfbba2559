import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { startBroker, stopAllBrokers, BrokerProcess } from './broker';
import { BROKER_MAIN } from './build';
import { kcat, kcatAvailable, kcatProduce, parseKcatJson } from './kcat';
import { runProcess } from './proc';
import { runPython, runPythonJson, pythonClientsAvailable } from './python';
import { waitFor, WaitForTimeoutError } from './waitFor';

const FAKE = path.join(__dirname, 'fixtures', 'fakeBroker.js');

/** A port nothing listens on: bind an ephemeral one, then release it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('waitFor', () => {
  it('resolves as soon as the predicate holds', async () => {
    let calls = 0;
    await waitFor(() => ++calls >= 3, { timeoutMs: 5000, intervalMs: 1 });
    expect(calls).toBe(3);
  });

  it('fails after the deadline with the message and the last error', async () => {
    const started = Date.now();
    const err = await waitFor(
      () => {
        throw new Error('not there yet');
      },
      { timeoutMs: 150, intervalMs: 10, message: 'the record to appear' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitForTimeoutError);
    expect((err as Error).message).toMatch(/timed out after 150 ms .*the record to appear; last error: not there yet/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('is bounded even when the predicate never settles', async () => {
    const started = Date.now();
    const err = await waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 200 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/still running/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('runProcess', () => {
  it('names the missing tool and how to install it', async () => {
    await expect(runProcess('strata-no-such-tool', [], { missingHint: 'apt-get install -y it' })).rejects.toThrow(
      /strata-no-such-tool: not found — apt-get install -y it/,
    );
  });

  it('feeds stdin and captures stdout, stderr and the exit code', async () => {
    const r = await runProcess(process.execPath, ['-e', 'process.stdin.pipe(process.stdout); console.error("e"); process.exitCode = 4'], {
      input: 'hello',
    });
    expect(r).toMatchObject({ code: 4, signal: null, stderr: 'e\n', timedOut: false });
    expect(r.stdout.toString()).toBe('hello');
  });

  it('rejects a program whose output exceeds the cap', async () => {
    await expect(
      runProcess(process.execPath, ['-e', 'process.stdout.write(Buffer.alloc(1 << 20))'], { maxOutputBytes: 1000 }),
    ).rejects.toThrow(/stdout exceeded 1000 bytes/);
  });
});

describe('kcat helpers', () => {
  it('finds kcat (or fails with the install hint)', async () => {
    expect(await kcatAvailable()).toMatch(/^Version .*librdkafka/);
  });

  it('kills kcat at the timeout', async () => {
    const port = await closedPort();
    const started = Date.now();
    // kcat would retry the dead address for its whole 30 s metadata timeout.
    const r = await kcat(['-L', '-b', `127.0.0.1:${port}`, '-m', '30'], { timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.code).toBeNull();
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses lines kcat would split or drop', async () => {
    await expect(kcatProduce('127.0.0.1:1', 't', ['a\nb'])).rejects.toThrow(/contains '\\n'/);
    await expect(kcatProduce('127.0.0.1:1', 't', [''])).rejects.toThrow(/empty lines/);
  });

  it('parses -J envelopes with 64-bit offsets, null keys and headers', () => {
    const text =
      '{"topic":"t","partition":0,"offset":9007199254740993,"tstype":"create","ts":1700000000123,"broker":0,' +
      '"headers":["h1","v1","h2",null],"key":null,"payload":"{\\"offset\\":1}"}\n' +
      '{"topic":"t","partition":1,"offset":0,"broker":0,"key":"k","payload":null}\n';
    expect(parseKcatJson(text)).toEqual([
      {
        topic: 't',
        partition: 0,
        offset: 9007199254740993n,
        timestampType: 'create',
        timestamp: 1700000000123n,
        key: null,
        value: '{"offset":1}',
        headers: [
          ['h1', 'v1'],
          ['h2', null],
        ],
      },
      { topic: 't', partition: 1, offset: 0n, timestampType: null, timestamp: null, key: 'k', value: null, headers: [] },
    ]);
  });
});

describe('python helpers', () => {
  it('has the Kafka client libraries', async () => {
    const v = await pythonClientsAvailable();
    expect(v.confluentKafka).toMatch(/^\d+\.\d+/);
    expect(v.kafkaPython).toMatch(/^\d+\.\d+/);
  });

  it('passes JSON in on stdin and args, and parses JSON out', async () => {
    const code = 'import json, sys\nd = json.load(sys.stdin)\nprint(json.dumps({"n": d["n"], "arg": sys.argv[1]}))';
    await expect(runPythonJson({ code }, { input: { n: 12345678901234567890n }, args: ['x'] })).resolves.toEqual({
      n: '12345678901234567890',
      arg: 'x',
    });
  });

  it('rejects a script that prints no JSON, with its output', async () => {
    await expect(runPythonJson({ code: 'print("hello")' })).rejects.toThrow(/did not print JSON[\s\S]*hello/);
  });

  it('kills a script at the timeout', async () => {
    const r = await runPython({ code: 'import time\nprint("started")\ntime.sleep(60)' }, { timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.stdout.toString()).toBe('started\n');
  });
});

describe('startBroker lifecycle (stand-in process)', () => {
  let dirs: string[] = [];
  const tmp = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-helpers-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    dirs = [];
  });

  it('starts on an ephemeral port, serves, and stops cleanly', async () => {
    const b = await startBroker({ entry: FAKE, overrides: { 'num.partitions': '3' }, args: ['--node-id', '7'] });
    expect(b.host).toBe('127.0.0.1');
    expect(b.port).toBeGreaterThan(0);
    expect(b.bootstrap).toBe(`127.0.0.1:${b.port}`);
    expect(await connects(b.host, b.port)).toBe(true);
    const starts = fs.readFileSync(path.join(b.dataDir, 'starts'), 'utf8');
    expect(starts).toContain(`${b.pid} broker --data-dir ${b.dataDir} --listeners PLAINTEXT://127.0.0.1:0 --override num.partitions=3 --node-id 7`);
    expect(b.exitStatus()).toBeNull();

    expect(await b.stop()).toBe(0);
    expect(b.exitStatus()).toEqual({ code: 0, signal: null });
    expect(await b.stop()).toBe(0); // idempotent
    expect(b.output()).toMatch(/listening on[\s\S]*SIGTERM received/);
    expect(alive(b.pid)).toBe(false);
  });

  it('restarts on the same data dir, optionally on the same port', async () => {
    const dataDir = tmp();
    const first = await startBroker({ entry: FAKE, dataDir });
    const second = await first.restart({ samePort: true });
    expect(first.exitStatus()).toEqual({ code: 0, signal: null });
    expect(second.dataDir).toBe(dataDir);
    expect(second.port).toBe(first.port);
    expect(second.pid).not.toBe(first.pid);
    const third = await second.restart();
    expect(third.dataDir).toBe(dataDir);
    expect(fs.readFileSync(path.join(dataDir, 'starts'), 'utf8').trim().split('\n')).toHaveLength(3);
    await third.stop();
    expect(fs.existsSync(dataDir)).toBe(true); // a caller's dir is never removed
  });

  it('kill9 ends the process with SIGKILL', async () => {
    const b = await startBroker({ entry: FAKE });
    await b.kill9();
    expect(b.exitStatus()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(alive(b.pid)).toBe(false);
    expect(await b.stop()).toBeNull();
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const b = await startBroker({ entry: FAKE, env: { FAKE_BROKER_MODE: 'ignore-sigterm' }, stopTimeoutMs: 300 });
    expect(await b.stop()).toBeNull();
    expect(b.exitStatus()?.signal).toBe('SIGKILL');
    expect(b.output()).toContain('sending SIGKILL');
  });

  it('fails with the output when the process exits before it is ready', async () => {
    await expect(startBroker({ entry: FAKE, env: { FAKE_BROKER_MODE: 'exit-early' } })).rejects.toThrow(
      /exited \(code 3\) before printing its listening line[\s\S]*pretend config error/,
    );
  });

  it('kills a process that never becomes ready, and says so', async () => {
    const dataDir = tmp();
    await expect(
      startBroker({ entry: FAKE, dataDir, env: { FAKE_BROKER_MODE: 'never-ready' }, readyTimeoutMs: 500 }),
    ).rejects.toThrow(/no 'listening on PLAINTEXT:\/\/…' line within 500 ms \(killed\)[\s\S]*starting up/);
    const pid = Number(fs.readFileSync(path.join(dataDir, 'starts'), 'utf8').split(' ')[0]);
    expect(alive(pid)).toBe(false);
  });

  it('stopAllBrokers stops what is left and removes temp data dirs', async () => {
    const a = await startBroker({ entry: FAKE });
    const b = await startBroker({ entry: FAKE });
    await stopAllBrokers();
    expect(a.exitStatus()).toEqual({ code: 0, signal: null });
    expect(b.exitStatus()).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(a.dataDir)).toBe(false);
    expect(fs.existsSync(b.dataDir)).toBe(false);
  });
});

describe('startBroker lifecycle (real broker)', () => {
  /** SIGTERM must end the broker cleanly (exit 0); otherwise show how it ended and what it said. */
  async function expectCleanStop(b: BrokerProcess, when: string): Promise<void> {
    const code = await b.stop();
    if (code !== 0) throw new Error(`${when}: broker ended with ${JSON.stringify(b.exitStatus())}\n${b.output()}`);
  }

  it('is built', () => {
    expect(fs.existsSync(BROKER_MAIN)).toBe(true);
  });

  it('starts, answers metadata, survives stop/restart/kill -9/restart', async () => {
    let broker = await startBroker();
    const meta = await kcat(['-L', '-b', broker.bootstrap, '-m', '10'], { timeoutMs: 20_000 });
    expect(meta.code).toBe(0);
    expect(meta.stdout.toString()).toContain(`broker 0 at ${broker.bootstrap}`);
    expect(broker.output()).not.toMatch(/STRATA_DIST_CHECKED|STRATA_SKIP_BUILD/); // helper switches stay ours

    await expectCleanStop(broker, 'first stop');
    broker = await broker.restart();
    expect(await connects(broker.host, broker.port)).toBe(true);
    await broker.kill9();
    expect(broker.exitStatus()?.signal).toBe('SIGKILL');
    broker = await broker.restart({ samePort: false });
    expect(await connects(broker.host, broker.port)).toBe(true);
    await expectCleanStop(broker, 'stop after crash recovery');
  });
});
