import type { Readable } from 'node:stream';
import { StrataError } from '../common/errors';

/**
 * Splits a byte stream (stdin) into lines, as raw bytes: a record's key and value are bytes,
 * so nothing is decoded here. Lines end at '\n'; a '\r' before it is dropped, as Java's
 * `BufferedReader.readLine` does in kafka-console-producer. A final line without '\n' counts;
 * an empty line is an empty record (Kafka's console producer sends those too).
 *
 * Memory stays bounded: the stream is consumed with `for await`, which pauses it while the
 * consumer of this generator works (backpressure), and a partial line longer than
 * `maxLineBytes` is an error rather than an ever-growing buffer.
 *
 * Lines are yielded in groups (all complete lines of one chunk) because a per-line await costs
 * far more than the split itself when stdin is a fast pipe.
 */
export async function* lineBatches(input: Readable, maxLineBytes: number): AsyncGenerator<Buffer[]> {
  let partial: Buffer[] = [];
  let partialLength = 0;

  for await (const raw of input as AsyncIterable<Buffer | string>) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      let line: Buffer;
      if (partialLength > 0) {
        partialLength += nl - start;
        if (partialLength > maxLineBytes) throw tooLong(maxLineBytes);
        partial.push(chunk.subarray(start, nl));
        line = Buffer.concat(partial, partialLength);
        partial = [];
        partialLength = 0;
      } else {
        if (nl - start > maxLineBytes) throw tooLong(maxLineBytes);
        // Copy: the chunk may be a pooled buffer the stream reuses, and records outlive it.
        line = Buffer.from(chunk.subarray(start, nl));
      }
      lines.push(stripCr(line));
      start = nl + 1;
    }
    if (start < chunk.length) {
      partialLength += chunk.length - start;
      if (partialLength > maxLineBytes) throw tooLong(maxLineBytes);
      partial.push(Buffer.from(chunk.subarray(start)));
    }
    if (lines.length > 0) yield lines;
  }
  if (partialLength > 0) yield [stripCr(Buffer.concat(partial, partialLength))];
}

function stripCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line;
}

function tooLong(max: number): StrataError {
  return new StrataError('BATCH_TOO_LARGE', `an input line is longer than ${max} bytes (raise it with --max-line-bytes)`);
}
