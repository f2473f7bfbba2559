/**
 * kafkajs's RecordBatch v2 encoder and decoder, used as an independent implementation to check
 * ours against (a round trip through our own writer and reader would only prove symmetry).
 * These are kafkajs internals (kafkajs 2.2.4, a devDependency), loaded by path.
 */
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
const RecordBatch = require('kafkajs/src/protocol/recordBatch/v0').RecordBatch;
const Record = require('kafkajs/src/protocol/recordBatch/record/v0');
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder');
const Decoder = require('kafkajs/src/protocol/decoder');
const Long = require('kafkajs/src/utils/long');
const { Types } = require('kafkajs/src/protocol/message/compression');

export interface KjsRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string>;
  timestampDelta?: number;
}

/** Encodes one batch with kafkajs (CreateTime, no producer id). */
export async function kafkajsEncode(
  records: KjsRecord[],
  opts: { firstOffset?: bigint; firstTimestamp?: number; gzip?: boolean } = {},
): Promise<Buffer> {
  const firstTimestamp = opts.firstTimestamp ?? 1_600_000_000_000;
  const encoded = records.map((r, i) =>
    Record({ offsetDelta: i, timestampDelta: r.timestampDelta ?? 0, key: r.key, value: r.value, headers: r.headers ?? {} }),
  );
  const maxDelta = Math.max(...records.map((r) => r.timestampDelta ?? 0));
  const enc = await RecordBatch({
    compression: opts.gzip ? Types.GZIP : Types.None,
    firstOffset: Long.fromString(String(opts.firstOffset ?? 0n)),
    firstTimestamp,
    maxTimestamp: firstTimestamp + maxDelta,
    lastOffsetDelta: records.length - 1,
    producerId: Long.fromInt(-1),
    producerEpoch: 0,
    firstSequence: 0,
    records: encoded,
  });
  return enc.buffer;
}

export interface KjsDecoded {
  firstOffset: string;
  maxTimestamp: string;
  records: { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, any> }[];
}

/** Decodes one whole batch with kafkajs. */
export async function kafkajsDecode(batch: Buffer): Promise<KjsDecoded> {
  return decodeBatch(new Decoder(batch));
}
