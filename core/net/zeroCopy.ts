/**
 * Zero-copy sends of log segment bytes: sendfile(2) through the native addon in native/sendfile.
 *
 * Why: Kafka serves fetches with FileChannel.transferTo, i.e. sendfile(2): the kernel moves segment
 * bytes from the page cache straight to the socket, never copying them into user space. The
 * buffered path reads each range into a Buffer (readSync) and writes that Buffer to the socket, two
 * copies through the process plus the allocation. On plaintext listeners Strata can do what Kafka
 * does; TLS needs the bytes in user space to encrypt them, so there socketFd() returns null.
 *
 * Caveat: sendfile runs on the event loop thread. Bytes already in the page cache (the usual case
 * for consumers near the head of the log) cost no disk I/O; bytes that are not make the call wait
 * for the disk, stalling the loop exactly as the buffered path's readSync does. It never waits for
 * the peer: Node's sockets are non-blocking, so a full send buffer returns -1 and whenWritable()
 * says when to go on.
 *
 * Using it on a socket: whatever Node has queued (socket.writableLength, e.g. the response header)
 * must have reached the kernel before the first send(), or the two byte streams interleave; and
 * socket.write() must wait until the sendfile loop is done.
 *
 * The addon is built at install (scripts/build-native.mjs, npm's `install` script). Where it is not
 * built, not on Linux, or disabled with STRATA_ZERO_COPY=0 (for comparing both paths), loadZeroCopy()
 * returns null and callers use the buffered path; zeroCopyUnavailableReason() says why.
 */
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';

/** sendfile(2) through the native addon (native/sendfile), or null where it is not built / not Linux / disabled. */
export interface ZeroCopy {
  /**
   * One sendfile(2) of up to `length` bytes of `fileFd` from `position` (the file's own offset is
   * untouched) to the non-blocking socket `socketFd`. Bytes sent, 0 at end of file, or -1 when the
   * socket would block. Other failures throw the Error with .code ('EPIPE', 'ECONNRESET', 'EBADF'...);
   * the caller decides.
   */
  send(socketFd: number, fileFd: number, position: number, length: number): number;
  /**
   * Calls cb once, on the event loop, when the socket can take more bytes (or has failed or hung
   * up: the next send() reports that). Returns cancel; after cancel, cb never runs. Dropping the
   * cancel function does not cancel. Throws (code 'EMFILE'...) if the wait cannot be set up.
   */
  whenWritable(socketFd: number, cb: (err: Error | null) => void): () => void;
}

/** What native/sendfile/build/Release/strata_sendfile.node exports. */
interface NativeSendfile {
  sendfile(outFd: number, inFd: number, position: number, length: number): number;
  whenWritable(socketFd: number, callback: (err: Error | null) => void): { cancel(): void };
}

export const ZERO_COPY_ENV = 'STRATA_ZERO_COPY';
const ADDON_PATH = ['native', 'sendfile', 'build', 'Release', 'strata_sendfile.node'];

let loaded: { zeroCopy: ZeroCopy | null; reason: string | null } | undefined;

/** The addon, loaded once per process; null (see zeroCopyUnavailableReason) when unavailable. */
export function loadZeroCopy(): ZeroCopy | null {
  loaded ??= load();
  return loaded.zeroCopy;
}

/** Why loadZeroCopy() returns null, or null when it does not. */
export function zeroCopyUnavailableReason(): string | null {
  loaded ??= load();
  return loaded.reason;
}

/** Forgets the cached result, so the next loadZeroCopy() looks again (tests toggle STRATA_ZERO_COPY). */
export function resetZeroCopyForTests(): void {
  loaded = undefined;
}

/**
 * The OS file descriptor of a connected TCP socket, or null when there is none to use: not
 * connected, destroyed, not a TCP handle, or TLS (sendfile would bypass the encryption).
 */
export function socketFd(socket: net.Socket): number | null {
  if ((socket as { encrypted?: boolean }).encrypted) return null;
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}

function load(): { zeroCopy: ZeroCopy | null; reason: string | null } {
  const unavailable = (reason: string) => ({ zeroCopy: null, reason });
  if (process.env[ZERO_COPY_ENV] === '0') return unavailable(`disabled by ${ZERO_COPY_ENV}=0`);
  if (process.platform !== 'linux') return unavailable(`sendfile addon is Linux only (platform ${process.platform})`);
  const root = packageRoot(__dirname);
  if (root === null) return unavailable(`no package.json above ${__dirname}`);
  const file = path.join(root, ...ADDON_PATH);
  if (!fs.existsSync(file)) {
    return unavailable(`addon not built: ${file} is missing (run: node scripts/build-native.mjs)`);
  }
  let native: NativeSendfile;
  try {
    native = require(file) as NativeSendfile;
  } catch (e) {
    return unavailable(`addon failed to load: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof native.sendfile !== 'function' || typeof native.whenWritable !== 'function') {
    return unavailable(`addon ${file} does not export sendfile/whenWritable`);
  }
  const zeroCopy: ZeroCopy = {
    send: (socket, file, position, length) => native.sendfile(socket, file, position, length),
    whenWritable: (socket, cb) => {
      const wait = native.whenWritable(socket, cb);
      return () => wait.cancel();
    },
  };
  return { zeroCopy, reason: null };
}

/** The nearest directory at or above `from` with a package.json (core/net → ., dist/core/net → .). */
function packageRoot(from: string): string | null {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return null;
  }
}
