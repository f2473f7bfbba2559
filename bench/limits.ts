import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { MB, MiB, perSecond, secondsSince } from './units';

/**
 * The physical ceilings the broker's numbers are divided by: how fast this machine can write a
 * file sequentially, and how fast it can push bytes through a loopback TCP connection. A broker
 * can't persist faster than the disk nor serve faster than the socket, so produce MB/s ÷ disk MB/s
 * and consume MB/s ÷ loopback MB/s say how much of the machine it actually uses.
 */

export interface Throughput {
  name: string;
  bytes: number;
  seconds: number;
  mbPerSec: number;
}

function throughput(name: string, bytes: number, seconds: number): Throughput {
  return { name, bytes, seconds, mbPerSec: perSecond(bytes, seconds) / MB };
}

/**
 * Sequential writes of `chunk`-sized buffers into a new file in `dir` (same filesystem as the
 * broker's data dir). Without fsync this measures the page cache — what a broker that leaves
 * flushing to the OS (Kafka's default) competes with; with a final fsync it measures the device.
 * Synchronous writes on purpose: this process does nothing else meanwhile, and it keeps the
 * number free of event-loop overhead.
 */
export function diskWrite(dir: string, totalBytes: number, chunkBytes: number, fsync: boolean): Throughput {
  const file = path.join(dir, `disk-write-${process.pid}-${fsync ? 'fsync' : 'nofsync'}.bin`);
  // Random bytes, so a compressing or deduplicating filesystem can't flatter the result.
  const chunk = crypto.randomBytes(chunkBytes);
  const fd = fs.openSync(file, 'w');
  try {
    const start = process.hrtime.bigint();
    for (let written = 0; written < totalBytes; written += chunkBytes) {
      const n = Math.min(chunkBytes, totalBytes - written);
      let off = 0;
      while (off < n) off += fs.writeSync(fd, chunk, off, n - off);
    }
    if (fsync) fs.fsyncSync(fd);
    const seconds = secondsSince(start);
    // Flush the no-fsync run too (outside the timing), so its dirty pages don't slow what follows.
    if (!fsync) fs.fsyncSync(fd);
    return throughput(`disk write, ${chunkBytes / MiB} MiB writes${fsync ? ' + fsync' : ' (page cache)'}`, totalBytes, seconds);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

/**
 * The receiving end of a loopback test, run as a separate node process so sender and receiver get
 * a core each (as broker and client do). It prints its port, then, when the sender closes,
 * "<bytes> <seconds from first to last byte>".
 */
const NODE_RECEIVER = `
const net = require('net');
const server = net.createServer((s) => {
  let bytes = 0, first = 0n;
  s.on('data', (b) => { if (bytes === 0) first = process.hrtime.bigint(); bytes += b.length; });
  s.on('end', () => {
    const secs = Number(process.hrtime.bigint() - first) / 1e9;
    process.stdout.write(bytes + ' ' + secs + '\\n');
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const PYTHON_RECEIVER = `
import socket, sys, time
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
buf = bytearray(1 << 20); view = memoryview(buf); total = 0; first = None
while True:
    n = conn.recv_into(view)
    if n == 0: break
    if first is None: first = time.perf_counter()
    total += n
print(total, time.perf_counter() - (first or time.perf_counter()), flush=True)
`;

const PYTHON_SENDER = `
import socket, sys
port, total, chunk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
data = bytes(chunk); s = socket.create_connection(('127.0.0.1', port)); sent = 0
while sent < total:
    n = min(chunk, total - sent); s.sendall(data[:n] if n < chunk else data); sent += n
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
`;

/** A receiver process: resolves its port, then its "<bytes> <seconds>" report. */
function startReceiver(command: string, args: string[]): { port: Promise<number>; report: Promise<[number, number]> } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let gotPort: (p: number) => void;
  let failPort: (e: Error) => void;
  const port = new Promise<number>((resolve, reject) => {
    gotPort = resolve;
    failPort = reject;
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (t: string) => (err = (err + t).slice(-4000)));
  child.stdout.on('data', (t: string) => {
    out += t;
    const first = out.split('\n');
    if (first.length > 1) gotPort(Number(first[0]));
  });
  const report = new Promise<[number, number]>((resolve, reject) => {
    child.on('error', (e) => {
      failPort(e);
      reject(e);
    });
    child.on('exit', (code) => {
      const lines = out.trim().split('\n');
      const [bytes, secs] = (lines[1] ?? '').split(' ').map(Number);
      if (code !== 0 || !Number.isFinite(bytes) || !Number.isFinite(secs)) {
        const e = new Error(`loopback receiver ${command} exited ${code}: ${err || out}`);
        failPort(e);
        reject(e);
      } else {
        resolve([bytes!, secs!]);
      }
    });
  });
  // If the receiver fails before anyone awaits its report (e.g. it can't start, so the caller is
  // still waiting on the port), that rejection is reported through `port`; don't let it go unhandled.
  report.catch(() => undefined);
  return { port, report };
}

/** node → node over 127.0.0.1: this process sends `totalBytes` in `chunkBytes` writes. */
export async function loopbackNode(totalBytes: number, chunkBytes: number): Promise<Throughput> {
  const receiver = startReceiver(process.execPath, ['-e', NODE_RECEIVER]);
  const port = await receiver.port;
  const chunk = Buffer.alloc(chunkBytes, 0x61);
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.on('connect', () => {
      let sent = 0;
      // Respect backpressure: write until the kernel buffer is full, resume on 'drain'.
      const pump = (): void => {
        while (sent < totalBytes) {
          const n = Math.min(chunkBytes, totalBytes - sent);
          sent += n;
          if (!socket.write(n === chunkBytes ? chunk : chunk.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end(resolve);
      };
      pump();
    });
  });
  const [bytes, seconds] = await receiver.report;
  if (bytes !== totalBytes) throw new Error(`loopback receiver got ${bytes} bytes, expected ${totalBytes}`);
  return throughput('loopback TCP, node → node', bytes, seconds);
}

/** python → python over 127.0.0.1 (C-level socket loops): the kernel's loopback ceiling. */
export async function loopbackPython(python: string, totalBytes: number, chunkBytes: number): Promise<Throughput> {
  const receiver = startReceiver(python, ['-c', PYTHON_RECEIVER]);
  const port = await receiver.port;
  await new Promise<void>((resolve, reject) => {
    const sender = spawn(python, ['-c', PYTHON_SENDER, String(port), String(totalBytes), String(chunkBytes)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    sender.stderr.setEncoding('utf8');
    sender.stderr.on('data', (t: string) => (err = (err + t).slice(-4000)));
    sender.on('error', reject);
    sender.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`python sender exited ${code}: ${err}`))));
  });
  const [bytes, seconds] = await receiver.report;
  if (bytes !== totalBytes) throw new Error(`loopback receiver got ${bytes} bytes, expected ${totalBytes}`);
  return throughput('loopback TCP, python → python', bytes, seconds);
}
