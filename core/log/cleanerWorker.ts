import { parentPort } from 'node:worker_threads';
import { StrataError } from '../common/errors';
import { CleanGroup, CleanRoundInput, CleanRoundResult, runCleanRound } from './segmentCleaner';

/**
 * The log cleaner's worker thread (started by logCleaner.ts): runs one cleaning round at a time,
 * reading closed segments and writing `.cleaned` files off the main thread. Each finished group
 * is handed to the main thread, which swaps it into the live log and answers; the next group
 * starts after the answer, so at most one `.cleaned` segment exists per log at a time.
 *
 * Messages in:  { type: 'clean', input }  then one { type: 'swapped', ok } per 'swap' sent.
 * Messages out: { type: 'swap', group }, then { type: 'done', result } or { type: 'failed', code, message }.
 */
export type ToCleanerWorker = { type: 'clean'; input: CleanRoundInput } | { type: 'swapped'; ok: boolean };
export type FromCleanerWorker =
  | { type: 'swap'; group: CleanGroup }
  | { type: 'done'; result: CleanRoundResult }
  | { type: 'failed'; code: string; message: string };

const port = parentPort;
if (port === null) throw new StrataError('STORAGE_IO', 'cleanerWorker must run in a worker thread');

let answer: ((ok: boolean) => void) | null = null;

const send = (m: FromCleanerWorker): void => port.postMessage(m);

port.on('message', (m: ToCleanerWorker) => {
  if (m.type === 'swapped') {
    const a = answer;
    answer = null;
    a?.(m.ok);
    return;
  }
  const swap = (group: CleanGroup): Promise<boolean> =>
    new Promise((resolve) => {
      answer = resolve;
      send({ type: 'swap', group });
    });
  runCleanRound(m.input, swap).then(
    (result) => send({ type: 'done', result }),
    (e: unknown) => send({ type: 'failed', code: e instanceof StrataError ? e.code : 'STORAGE_IO', message: (e as Error)?.message ?? String(e) }),
  );
});
