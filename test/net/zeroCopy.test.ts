import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ZeroCopy,
  loadZeroCopy,
  resetZeroCopyForTests,
  socketFd,
  zeroCopyUnavailableReason,
} from '../../core/net/zeroCopy';

/**
 * The sendfile addon (native/sendfile, built by scripts/build-native.mjs) over real TCP connections
 * on 127.0.0.1 and real files. On Linux the addon must be built; elsewhere these tests are skipped.
 */

const ADDON = path.resolve(__dirname, '../../native/sendfile/build/Release/strata_sendfile.node');
const FILE_SIZE = 8 << 20;
const BAD_FD = 999_999;

const savedEnv = process.env.STRATA_ZERO_COPY;
delete process.env.STRATA_ZERO_COPY;
resetZeroCopyForTests();
const loaded = loadZeroCopy();
const unavailable = zeroCopyUnavailableReason();
if (savedEnv !== undefined) process.env.STRATA_ZERO_COPY = savedEnv;

const skipped = loaded === null && process.platform !== 'linux';
if (skipped) console.log(`zeroCopy tests skipped: ${unavailable}`);
const describeAddon = skipped ? describe.skip : describe;

/** The addon, or a failure naming why it is missing (on Linux it must be built). */
function zc(): ZeroCopy {
  if (loaded === null) throw new Error(`loadZeroCopy() returned null on ${process.platform}: ${unavailable}`);
  return loaded;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const settle = async () => {
  // uv_close callbacks (which close the dup'ed fds) run at the end of a loop iteration.
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
};
const fdCount = () => fs.readdirSync('/proc/self/fd').length;

interface Pair {
  /** The accepted side: never read by Node (pauseOnConnect), so only sendfile touches it. */
  sender: net.Socket;
  /** The connecting side, created paused. */
  reader: net.Socket;
  close(): Promise<void>;
}

async function socketPair(): Promise<Pair> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const reader = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  reader.pause();
  reader.on('error', () => {});
  await once(reader, 'connect');
  const [sender] = await accepted;
  sender.on('error', () => {});
  return {
    sender,
    reader,
    close: async () => {
      sender.destroy();
      reader.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Sends [position, position + length) of fileFd the way the fetch path will: send until -1, wait
 * for writable, go on. onBlock runs at every -1.
 */
function sendRange(z: ZeroCopy, sock: number, fileFd: number, position: number, length: number, onBlock = () => {}) {
  return new Promise<{ wouldBlock: number }>((resolve, reject) => {
    let wouldBlock = 0;
    const step = (err: Error | null) => {
      if (err) return reject(err);
      try {
        while (length > 0) {
          const n = z.send(sock, fileFd, position, length);
          if (n === -1) {
            wouldBlock++;
            onBlock();
            z.whenWritable(sock, step);
            return;
          }
          if (n === 0) return reject(new Error(`unexpected end of file at ${position}`));
          position += n;
          length -= n;
        }
        resolve({ wouldBlock });
      } catch (e) {
        reject(e);
      }
    };
    step(null);
  });
}

/** Reads everything until end, slowly: pauses after every chunk and resumes a millisecond later. */
function readSlowly(reader: net.Socket, startWhen: Promise<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  reader.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    reader.pause();
    setTimeout(() => reader.resume(), 1);
  });
  void startWhen.then(() => reader.resume());
  return once(reader, 'end').then(() => Buffer.concat(chunks));
}

describe('socketFd and STRATA_ZERO_COPY', () => {
  test('socketFd is the OS fd of a connected socket, null without one', async () => {
    const pair = await socketPair();
    try {
      const fd = socketFd(pair.reader);
      expect(typeof fd).toBe('number');
      expect(fd!).toBeGreaterThan(2);
      expect(socketFd(pair.sender)).toBeGreaterThan(2);
      expect(socketFd(pair.sender)).not.toBe(fd);
      expect(socketFd(new net.Socket())).toBeNull();
      pair.reader.destroy();
      expect(socketFd(pair.reader)).toBeNull();
    } finally {
      await pair.close();
    }
  });

  test('STRATA_ZERO_COPY=0 disables it, with the reason', () => {
    const saved = process.env.STRATA_ZERO_COPY;
    try {
      process.env.STRATA_ZERO_COPY = '0';
      resetZeroCopyForTests();
      expect(loadZeroCopy()).toBeNull();
      expect(zeroCopyUnavailableReason()).toBe('disabled by STRATA_ZERO_COPY=0');
      // cached until reset, whatever the environment says now
      delete process.env.STRATA_ZERO_COPY;
      expect(loadZeroCopy()).toBeNull();
      resetZeroCopyForTests();
      expect(loadZeroCopy() === null).toBe(loaded === null);
      expect(zeroCopyUnavailableReason()).toBe(unavailable);
    } finally {
      if (saved === undefined) delete process.env.STRATA_ZERO_COPY;
      else process.env.STRATA_ZERO_COPY = saved;
      resetZeroCopyForTests();
    }
  });
});

describeAddon('zero-copy sendfile addon', () => {
  let dir: string;
  let file: Buffer;
  let fileFd: number;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-zerocopy-'));
    file = randomBytes(FILE_SIZE);
    fs.writeFileSync(path.join(dir, 'segment.log'), file);
    fileFd = fs.openSync(path.join(dir, 'segment.log'), 'r');
  });

  afterAll(() => {
    if (fileFd !== undefined) fs.closeSync(fileFd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('is built and loads on Linux', () => {
    expect(unavailable).toBeNull();
    expect(typeof zc().send).toBe('function');
    expect(typeof zc().whenWritable).toBe('function');
  });

  test.each([
    ['the whole 8 MiB file', 0, FILE_SIZE],
    ['an odd middle range', 1_234_567, 5_555_555],
  ])('sends %s to a slow reader, byte for byte', async (_name, position, length) => {
    const z = zc();
    const pair = await socketPair();
    try {
      const sock = socketFd(pair.sender)!;
      let firstBlock!: () => void;
      const blocked = new Promise<void>((r) => (firstBlock = r));
      // The reader starts once the send buffer is full (or, should it never fill, once all is sent).
      const received = readSlowly(pair.reader, blocked);
      const sending = sendRange(z, sock, fileFd, position, length, firstBlock);
      const result = await sending.finally(firstBlock);
      pair.sender.end();
      const got = await received;
      expect(result.wouldBlock).toBeGreaterThan(0);
      expect(got.length).toBe(length);
      expect(got.equals(file.subarray(position, position + length))).toBe(true);
      // The file's own offset is untouched (sendfile with an explicit position).
      expect(fs.readSync(fileFd, Buffer.alloc(4), 0, 4, null)).toBe(4);
    } finally {
      await pair.close();
    }
  });

  test('returns 0 at end of file, and only what is left near the end', async () => {
    const z = zc();
    const pair = await socketPair();
    try {
      const sock = socketFd(pair.sender)!;
      expect(z.send(sock, fileFd, FILE_SIZE, 100)).toBe(0);
      expect(z.send(sock, fileFd, FILE_SIZE + 12345, 100)).toBe(0);
      expect(z.send(sock, fileFd, FILE_SIZE - 10, 1000)).toBe(10);
      expect(z.send(sock, fileFd, 0, 0)).toBe(0);
      pair.sender.end();
      pair.reader.resume();
      const chunks: Buffer[] = [];
      pair.reader.on('data', (c: Buffer) => chunks.push(c));
      await once(pair.reader, 'end');
      expect(Buffer.concat(chunks).equals(file.subarray(FILE_SIZE - 10))).toBe(true);
    } finally {
      await pair.close();
    }
  });

  test('a closed peer ends in EPIPE or ECONNRESET, thrown, and SIGPIPE is ignored', async () => {
    // Node sets SIGPIPE to SIG_IGN at start-up: the write fails with EPIPE instead of killing us.
    const sigIgn = BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}`);
    expect((sigIgn >> BigInt(os.constants.signals.SIGPIPE - 1)) & 1n).toBe(1n);

    const z = zc();
    const pair = await socketPair();
    try {
      const sock = socketFd(pair.sender)!;
      pair.reader.destroy();
      await sleep(20);
      let error: (Error & { code?: string; syscall?: string }) | undefined;
      const deadline = Date.now() + 10_000;
      while (!error && Date.now() < deadline) {
        try {
          const n = z.send(sock, fileFd, 0, 65536);
          if (n === -1) await new Promise((r) => z.whenWritable(sock, r));
          else await sleep(5);
        } catch (e) {
          error = e as typeof error;
        }
      }
      expect(error).toBeDefined();
      expect(['EPIPE', 'ECONNRESET']).toContain(error!.code);
      expect(error!.syscall).toBe('sendfile');
      expect(error!.message).toContain('sendfile');
    } finally {
      await pair.close();
    }
  });

  test('a process that hits EPIPE keeps running (no SIGPIPE death)', () => {
    const script = `
      const m = require(${JSON.stringify(ADDON)});
      const net = require('net'), fs = require('fs');
      const fileFd = fs.openSync(${JSON.stringify(__filename)}, 'r');
      const server = net.createServer({ pauseOnConnect: true }, async (s) => {
        s.on('error', () => {});
        const fd = s._handle.fd;
        client.destroy();
        await new Promise((r) => setTimeout(r, 20));
        for (let i = 0; i < 2000; i++) {
          try {
            if (m.sendfile(fd, fileFd, 0, 4096) === -1) await new Promise((r) => m.whenWritable(fd, r));
            else await new Promise((r) => setTimeout(r, 2));
          } catch (e) {
            console.log(e.code);
            s.destroy();
            server.close();
            return;
          }
        }
        console.log('no error');
        process.exit(3);
      });
      let client;
      server.listen(0, '127.0.0.1', () => {
        client = net.connect(server.address().port, '127.0.0.1');
        client.on('error', () => {});
      });
    `;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(['EPIPE', 'ECONNRESET']).toContain(run.stdout.trim());
  });

  test('bad file descriptors throw EBADF', async () => {
    const z = zc();
    const pair = await socketPair();
    try {
      const sock = socketFd(pair.sender)!;
      const codeOf = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return (e as { code?: string }).code;
        }
        return 'no error';
      };
      expect(codeOf(() => z.send(BAD_FD, fileFd, 0, 10))).toBe('EBADF');
      expect(codeOf(() => z.send(sock, BAD_FD, 0, 10))).toBe('EBADF');
      expect(codeOf(() => z.whenWritable(BAD_FD, () => {}))).toBe('EBADF');
      // A regular file cannot be polled: refused up front, no fd left behind.
      const before = fdCount();
      expect(codeOf(() => z.whenWritable(fileFd, () => {}))).toBe('EPERM');
      expect(fdCount()).toBe(before);
      // Arguments are checked before any system call.
      expect(codeOf(() => z.send(-1, fileFd, 0, 10))).toBe('ERR_OUT_OF_RANGE');
      expect(codeOf(() => z.send(sock, fileFd, -1, 10))).toBe('ERR_OUT_OF_RANGE');
      expect(codeOf(() => z.send(sock, fileFd, 0.5, 10))).toBe('ERR_OUT_OF_RANGE');
      expect(codeOf(() => z.send(sock, fileFd, 2 ** 53, 10))).toBe('ERR_OUT_OF_RANGE');
      expect(codeOf(() => z.send(sock, fileFd, 0, '10' as unknown as number))).toBe('ERR_INVALID_ARG_TYPE');
    } finally {
      await pair.close();
    }
  });

  test('positions past 4 GiB reach the kernel as 64-bit offsets', async () => {
    const z = zc();
    const sparse = path.join(dir, 'sparse.log');
    const fd = fs.openSync(sparse, 'w+');
    const pair = await socketPair();
    try {
      const position = 5 * 2 ** 30 + 3; // 5 GiB + 3: a sparse file, only the tail is written
      const tail = Buffer.from('past four gibibytes');
      fs.writeSync(fd, tail, 0, tail.length, position);
      const sock = socketFd(pair.sender)!;
      expect(z.send(sock, fd, position, 1000)).toBe(tail.length);
      expect(z.send(sock, fd, position + tail.length, 1000)).toBe(0);
      pair.sender.end();
      pair.reader.resume();
      const chunks: Buffer[] = [];
      pair.reader.on('data', (c: Buffer) => chunks.push(c));
      await once(pair.reader, 'end');
      expect(Buffer.concat(chunks).toString()).toBe(tail.toString());
    } finally {
      fs.closeSync(fd);
      await pair.close();
    }
  });

  test('whenWritable fires once; cancel (idempotent) means the callback never runs', async () => {
    const z = zc();
    const pair = await socketPair();
    try {
      const sock = socketFd(pair.sender)!;
      const fired: Array<Error | null> = [];
      await new Promise<void>((resolve) =>
        z.whenWritable(sock, (err) => {
          fired.push(err);
          resolve();
        }),
      );
      await sleep(30);
      expect(fired).toEqual([null]); // once, although the socket stays writable

      let cancelledRan = 0;
      const cancel = z.whenWritable(sock, () => cancelledRan++);
      cancel();
      cancel();
      await sleep(50);
      expect(cancelledRan).toBe(0);
      cancel();

      // Cancelling another wait from inside a callback that fires in the same loop iteration.
      let otherRan = 0;
      let cancelOther = () => {};
      const first = new Promise<void>((resolve) =>
        z.whenWritable(sock, () => {
          cancelOther();
          resolve();
        }),
      );
      cancelOther = z.whenWritable(sock, () => otherRan++);
      await first;
      await sleep(30);
      expect(otherRan).toBe(0);
    } finally {
      await pair.close();
    }
  });

  test('waits on a full socket fire when the reader drains it', async () => {
    const z = zc();
    const pair = await socketPair();
    try {
      const sock = socketFd(pair.sender)!;
      let sent = 0;
      while (z.send(sock, fileFd, 0, FILE_SIZE) !== -1) sent++;
      expect(sent).toBeGreaterThan(0);
      let fired = false;
      z.whenWritable(sock, () => (fired = true));
      await sleep(100);
      expect(fired).toBe(false); // nobody reads: it stays unwritable
      pair.reader.resume();
      const deadline = Date.now() + 5000;
      while (!fired && Date.now() < deadline) await sleep(5);
      expect(fired).toBe(true);
    } finally {
      await pair.close();
    }
  });

  test('no fd leak: 1,000 cancelled waits and 1,000 fired waits', async () => {
    const z = zc();
    const pair = await socketPair();
    try {
      const sock = socketFd(pair.sender)!;
      await settle();
      const before = fdCount();

      const pending = z.whenWritable(sock, () => {
        throw new Error('cancelled wait ran');
      });
      expect(fdCount()).toBe(before + 1); // the dup
      pending();
      await settle();
      expect(fdCount()).toBe(before);

      for (let i = 0; i < 1000; i++) {
        z.whenWritable(sock, () => {
          throw new Error('cancelled wait ran');
        })();
      }
      await settle();
      expect(fdCount()).toBe(before);

      let fired = 0;
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 100 }, () => new Promise<void>((r) => z.whenWritable(sock, () => (fired++, r())))),
        );
      }
      expect(fired).toBe(1000);
      await settle();
      expect(fdCount()).toBe(before);
    } finally {
      await pair.close();
    }
  });

  test('out of descriptors: whenWritable throws EMFILE, and works again once fds are free (child, ulimit -n 64)', () => {
    const script = `
      const m = require(${JSON.stringify(ADDON)});
      const net = require('net');
      const server = net.createServer({ pauseOnConnect: true }, (s) => {
        const fd = s._handle.fd;
        const cancels = [];
        let code = 'no error';
        try {
          for (let i = 0; i < 1000; i++) {
            const h = m.whenWritable(fd, () => { throw new Error('cancelled wait ran'); });
            cancels.push(() => h.cancel());
          }
        } catch (e) {
          code = e.code;
        }
        for (const c of cancels) c();
        setImmediate(() => setImmediate(() => {
          m.whenWritable(fd, () => {
            console.log(JSON.stringify({ code, waitsBeforeLimit: cancels.length }));
            s.destroy(); client.destroy(); server.close();
          });
        }));
      });
      let client;
      server.listen(0, '127.0.0.1', () => { client = net.connect(server.address().port, '127.0.0.1'); });
    `;
    const run = spawnSync('/bin/sh', ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const r = JSON.parse(run.stdout) as { code: string; waitsBeforeLimit: number };
    expect(r.code).toBe('EMFILE');
    expect(r.waitsBeforeLimit).toBeGreaterThan(0);
  });

  test('worker threads that end with waits pending: no crash, no socket left open (child)', () => {
    // The peer is in the main thread, so nothing wakes the worker's polls: its environment teardown
    // must stop them, and their close callbacks run after Node has unloaded the worker's addons.
    const script = `
      const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
      const net = require('net'), fs = require('fs');
      const sockets = () => fs.readdirSync('/proc/self/fd').filter((f) => {
        try { return fs.readlinkSync('/proc/self/fd/' + f).startsWith('socket:'); } catch { return false; }
      }).length;
      if (isMainThread) {
        (async () => {
          const before = sockets();
          for (let i = 0; i < 6; i++) {
            const w = new Worker(process.argv[1], { eval: true, workerData: i % 2 ? 'exit' : 'terminate' });
            w.on('error', (e) => { console.error(e); process.exit(2); });
            const port = await new Promise((r) => w.once('message', r));
            const c = net.connect(port, '127.0.0.1');
            c.pause();
            c.on('error', () => {});
            await new Promise((r) => w.once('message', r));
            if (i % 2 === 0) w.terminate();
            await new Promise((r) => w.once('exit', r));
            c.destroy();
          }
          await new Promise((r) => setTimeout(r, 50));
          console.log(JSON.stringify({ before, after: sockets() }));
        })();
      } else {
        const m = require(${JSON.stringify(ADDON)});
        const fileFd = fs.openSync(${JSON.stringify(__filename)}, 'r');
        const server = net.createServer({ pauseOnConnect: true }, (s) => {
          const fd = s._handle.fd;
          while (m.sendfile(fd, fileFd, 0, 1 << 20) !== -1);
          for (let i = 0; i < 10; i++) m.whenWritable(fd, () => {});
          m.whenWritable(fd, () => {}).cancel(); // closing, not yet closed
          parentPort.postMessage('pending');
          if (workerData === 'exit') setTimeout(() => process.exit(0), 5);
        });
        server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
      }
    `;
    const run = spawnSync(process.execPath, ['-e', script, script], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    const r = JSON.parse(run.stdout) as { before: number; after: number };
    expect(r.after).toBe(r.before);
  });

  test('garbage-collected handles: a dropped pending wait still fires; nothing leaks (child, --expose-gc)', () => {
    const script = `
      const m = require(${JSON.stringify(ADDON)});
      const net = require('net'), fs = require('fs');
      const count = () => fs.readdirSync('/proc/self/fd').length;
      const tick = () => new Promise((r) => setImmediate(r));
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const fileFd = fs.openSync(${JSON.stringify(__filename)}, 'r');
      const server = net.createServer({ pauseOnConnect: true }, async (s) => {
        const fd = s._handle.fd;
        await tick(); await tick();
        const before = count();
        for (let i = 0; i < 2000; i++) m.whenWritable(fd, () => { throw new Error('ran'); }).cancel();
        for (let i = 0; i < 2000; i++) await new Promise((r) => m.whenWritable(fd, r));
        gc(); await tick(); await tick(); gc();
        // fill the send buffer, then wait and drop the handle
        while (m.sendfile(fd, fileFd, 0, 1 << 20) !== -1);
        let fired = 0;
        m.whenWritable(fd, () => fired++);
        for (let i = 0; i < 5; i++) { gc(); await tick(); }
        const whilePending = count();
        const firedEarly = fired;
        client.on('data', () => {});
        client.resume();
        for (let i = 0; i < 500 && !fired; i++) await sleep(10);
        for (let i = 0; i < 3; i++) { gc(); await tick(); }
        const rss0 = process.memoryUsage().rss;
        for (let round = 0; round < 20; round++) {
          for (let i = 0; i < 5000; i++) m.whenWritable(fd, () => {}).cancel();
          await tick(); gc();
        }
        const rss1 = process.memoryUsage().rss;
        console.log(JSON.stringify({ before, whilePending, firedEarly, fired, after: count(), rssGrowth: rss1 - rss0 }));
        s.destroy(); client.destroy(); server.close();
      });
      let client;
      server.listen(0, '127.0.0.1', () => {
        client = net.connect(server.address().port, '127.0.0.1');
        client.pause();
      });
    `;
    const run = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const r = JSON.parse(run.stdout) as Record<string, number>;
    expect(r.whilePending).toBe(r.before + 1);
    expect(r.firedEarly).toBe(0);
    expect(r.fired).toBe(1);
    expect(r.after).toBe(r.before);
    expect(r.rssGrowth).toBeLessThan(8 << 20); // 100,000 more waits, collected as they go (a leak of each wait's struct alone is ~20 MB)
  });
});
