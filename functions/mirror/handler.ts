import middy, { type MiddlewareObj, type Request as MiddyRequest } from '@middy/core';
import type { Context } from 'aws-lambda';
import { Mirror, type MirrorSummary, type PartitionOutcome } from '../../core/mirror/mirror';
import { parseMirrorEvent, type ParsedMirrorEvent } from '../../core/mirror/event';
import { describeError } from '../../core/mirror/errors';
import { parseMirrorEnv, resolveMirrorConfig } from './config';
import { fetchSaslSecret } from './secrets';

/**
 * The cross-region mirror as a Lambda function fed by the self-managed Apache Kafka (or MSK)
 * event source: `handler` below. The work is core/mirror's (a plain class tested without
 * Lambda); this module only wires it:
 *
 *   cold start   the environment is parsed once (parseMirrorEnv: a bad value fails the init with
 *                a clear message); credentials from Secrets Manager are fetched once, on the
 *                first invocation; one Mirror (its target client, source clients and
 *                transactional producers) is kept for the container's life
 *   middy chain  parse the event (strictly: a malformed record is a poison record), log one JSON
 *                line per invocation (records in/out per partition, duration), and map errors:
 *                any failure is thrown, so Lambda retries the whole batch; what was committed
 *                already is skipped on the retry (see core/mirror/mirror.ts)
 *
 * Configuration: the MIRROR_* environment variables (functions/mirror/config.ts, docs/deploy.md).
 */

/** Parsed at init: an invalid environment fails the cold start, before any event is taken. */
const env = parseMirrorEnv(process.env);

let mirror: Promise<Mirror> | undefined;

/** The container's Mirror, created on first use (credentials fetched then) and kept across invocations. */
function containerMirror(): Promise<Mirror> {
  if (!mirror) {
    mirror = resolveMirrorConfig(env, fetchSaslSecret).then((config) => new Mirror(config, { log: logLine }));
    // A failed set-up (Secrets Manager unreachable...) is tried again by the next invocation.
    mirror.catch(() => (mirror = undefined));
  }
  return mirror;
}

/**
 * The business step: mirror a parsed event. Throws when anything could not be mirrored (a
 * poison record included, after the partitions and records before it were mirrored), so
 * Lambda retries the batch.
 */
export async function mirrorHandler(event: ParsedMirrorEvent, _context?: Context): Promise<MirrorResponse> {
  const m = await containerMirror();
  const summary = await m.mirrorParsedEvent(event);
  return { partitions: summary.partitions.map(partitionLog) };
}

/**
 * What an invocation returns (the Kafka event source ignores it; tests read it): plain JSON,
 * offsets as strings — the runtime serializes the result, and a bigint would fail the
 * invocation after the work was done.
 */
export interface MirrorResponse {
  partitions: Array<Omit<PartitionOutcome, 'firstOffset' | 'lastOffset'> & { firstOffset?: string; lastOffset?: string }>;
}

type Request = MiddyRequest<unknown, MirrorResponse, Error, Context>;

/** Parses the raw Lambda event into typed records (bigint offsets, Buffers); event-level garbage throws. */
function parseEvent(): MiddlewareObj<unknown, MirrorResponse, Error, Context> {
  return {
    before: (request: Request) => {
      (request as { event: unknown }).event = parseMirrorEvent(request.event);
    },
  };
}

/** One JSON line per invocation on success, one per failure; errors are re-thrown (Lambda retries). */
function jsonLog(): MiddlewareObj<unknown, MirrorResponse, Error, Context> {
  const started = new WeakMap<object, number>();
  const base = (request: Request): Record<string, unknown> => ({
    requestId: request.context?.awsRequestId,
    sourceAlias: env.sourceAlias,
    durationMs: Date.now() - (started.get(request) ?? Date.now()),
  });
  return {
    before: (request: Request) => {
      started.set(request, Date.now());
    },
    after: (request: Request) => {
      logLine({ level: 'info', msg: 'mirrored', ...base(request), partitions: request.response?.partitions ?? [] });
    },
    onError: (request: Request) => {
      const err = request.error;
      logLine({ level: 'error', msg: 'mirror failed; the batch will be retried', ...base(request), ...describeError(err) });
      // Leaving request.error set makes middy throw it: the invocation fails and Lambda retries the batch.
    },
  };
}

function partitionLog(p: MirrorSummary['partitions'][number]): MirrorResponse['partitions'][number] {
  return {
    topic: p.topic,
    partition: p.partition,
    targetTopic: p.targetTopic,
    recordsIn: p.recordsIn,
    recordsOut: p.recordsOut,
    alreadyMirrored: p.alreadyMirrored,
    firstOffset: p.firstOffset?.toString(),
    lastOffset: p.lastOffset?.toString(),
  };
}

function logLine(fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}

export const handler = middy<unknown, MirrorResponse, Error, Context>((event: unknown, context: Context) => mirrorHandler(event as ParsedMirrorEvent, context))
  .use(jsonLog())
  .use(parseEvent());
