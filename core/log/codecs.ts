import { gunzipSync, gzipSync } from 'node:zlib';
import { StrataError } from '../common/errors';
import type { CompressionName } from './recordBatch';

/**
 * The four Kafka compression codecs of a RecordBatch's records section, in one place: what the
 * decoder, the builder, the cleaner, the compacted-topic key check, the max-timestamp repair, the
 * client and the CLI call. Every inflate is bounded: it stops with InflateLimitError as soon as
 * the output would pass `maxBytes`, whatever sizes the data claims, so a hostile batch cannot
 * make the broker allocate without bound.
 *
 *   codec   library (npm)                     written as                       read
 *   gzip    node:zlib                         one gzip member                  gzip (members concatenated)
 *   snappy  snappy (napi-rs, Rust snap)       xerial-framed, 32 KiB blocks,    xerial-framed (Java clients)
 *                                             as Kafka's Java client           or one raw block (librdkafka)
 *   lz4     lz4-napi (napi-rs, lz4_flex)      LZ4 frame: 64 KiB independent    LZ4 frame, any block size,
 *                                             blocks, no checksums (as Java)   linked blocks too
 *   zstd    zstd-napi (libzstd, node-gyp)     one frame, level 3               frames, streamed
 *
 * The native modules are loaded on first use; one that cannot load makes its codec unavailable
 * (`codecStatus` says why): decode then throws COMPRESSION_UNSUPPORTED and the cleaner keeps
 * such batches whole, as before these codecs existed.
 *
 * Checksums inside the formats (LZ4 header, block and content checksums, zstd's frame checksum
 * when present is checked by libzstd) are not what protects a batch: its CRC-32C covers every
 * compressed byte and is checked first; damage the CRC does not catch surfaces as BATCH_CORRUPT.
 */

export type CodecName = Exclude<CompressionName, 'none'>;

export const CODEC_NAMES: readonly CodecName[] = ['gzip', 'snappy', 'lz4', 'zstd'];

/** Default cap on one batch's inflated records section (64 MiB). */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

export interface Codec {
  readonly name: CodecName;
  /** Library behind it, for logs and docs. */
  readonly library: string;
  compress(records: Buffer): Buffer;
  /**
   * Inflates `data` into at most `maxBytes` bytes. Throws InflateLimitError when the output
   * would be larger, BATCH_CORRUPT when `data` is damaged.
   */
  decompress(data: Buffer, maxBytes: number): Buffer;
}

/** An inflate stopped at its bound (a BATCH_CORRUPT for callers that do not tell it apart). */
export class InflateLimitError extends StrataError {
  constructor(
    readonly codec: CodecName,
    readonly maxBytes: number,
  ) {
    super('BATCH_CORRUPT', `${codec} records inflate to more than ${maxBytes} bytes`);
    this.name = 'InflateLimitError';
  }
}

/** The codec `name`, or null when it is 'none' or its library could not be loaded here. */
export function codecFor(name: CompressionName): Codec | null {
  if (name === 'none') return null;
  const s = load(name);
  return s.codec;
}

/** Each codec's library, or why it is not available. */
export function codecStatus(): Record<CodecName, { available: boolean; library: string; error?: string }> {
  const out = {} as Record<CodecName, { available: boolean; library: string; error?: string }>;
  for (const n of CODEC_NAMES) {
    const s = load(n);
    out[n] = s.codec ? { available: true, library: s.codec.library } : { available: false, library: LIBRARIES[n], error: s.error };
  }
  return out;
}

/** Compresses a records section; COMPRESSION_UNSUPPORTED when the codec is not available. */
export function compressRecords(name: CodecName, records: Buffer): Buffer {
  return required(name).compress(records);
}

/**
 * Inflates a records section into at most `maxBytes`. Throws InflateLimitError past the bound,
 * BATCH_CORRUPT for damaged data, COMPRESSION_UNSUPPORTED when the codec is not available.
 */
export function decompressRecords(name: CodecName, data: Buffer, maxBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES): Buffer {
  const c = required(name);
  try {
    return c.decompress(data, maxBytes);
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw new StrataError('BATCH_CORRUPT', `${name} records could not be decompressed: ${(e as Error).message}`, { cause: e });
  }
}

function required(name: CodecName): Codec {
  const s = load(name);
  if (s.codec) return s.codec;
  throw new StrataError('COMPRESSION_UNSUPPORTED', `the ${name} codec is not available in this process (${LIBRARIES[name]}: ${s.error})`);
}

// ---------------------------------------------------------------------------------------------
// Loading

const LIBRARIES: Record<CodecName, string> = {
  gzip: 'node:zlib',
  snappy: 'snappy (napi-rs)',
  lz4: 'lz4-napi (napi-rs, lz4_flex)',
  zstd: 'zstd-napi (libzstd)',
};

interface Loaded {
  codec: Codec | null;
  error?: string;
}

const loaded = new Map<CodecName, Loaded>();

function load(name: CodecName): Loaded {
  let s = loaded.get(name);
  if (s === undefined) {
    try {
      s = { codec: FACTORIES[name]() };
    } catch (e) {
      s = { codec: null, error: (e as Error).message.split('\n')[0] };
    }
    loaded.set(name, s);
  }
  return s;
}

const FACTORIES: Record<CodecName, () => Codec> = {
  gzip: gzipCodec,
  snappy: snappyCodec,
  lz4: lz4Codec,
  zstd: zstdCodec,
};

function corrupt(codec: CodecName, message: string): StrataError {
  return new StrataError('BATCH_CORRUPT', `${codec} records could not be decompressed: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// gzip

function gzipCodec(): Codec {
  return {
    name: 'gzip',
    library: LIBRARIES.gzip,
    compress: (b) => gzipSync(b),
    decompress(data, maxBytes) {
      try {
        return gunzipSync(data, { maxOutputLength: Math.max(1, maxBytes) });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new InflateLimitError('gzip', maxBytes);
        throw corrupt('gzip', (e as Error).message);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// snappy
//
// Kafka's Java client writes snappy through snappy-java's SnappyOutputStream (the "xerial"
// framing) for every message format, RecordBatch v2 included; librdkafka writes one raw snappy
// block and reads both (rd_kafka_snappy_java_uncompress). So: write xerial, read both.
//
//   xerial stream:  0x82 'SNAPPY' 0x00 | int32 version (1) | int32 min compatible version (1)
//                   then chunks: int32 BE compressed length | raw snappy block, each block the
//                   compression of at most 32 KiB of input (SnappyOutputStream's default)
//   raw block:      varint uncompressed length | snappy elements
//
// The bound comes from each raw block's length preamble, read here before anything is allocated;
// the library then checks that the block inflates to exactly that length.

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_SIZE = 16;
const XERIAL_BLOCK_SIZE = 32 * 1024;

function snappyCodec(): Codec {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const snappy = require('snappy') as typeof import('snappy');
  const inflateBlock = (block: Buffer, room: number): Buffer => {
    const len = snappyPreamble(block);
    if (len === null) throw corrupt('snappy', 'bad block length preamble');
    if (len > room) return OVER_LIMIT;
    try {
      return snappy.uncompressSync(block, { asBuffer: true }) as Buffer;
    } catch (e) {
      throw corrupt('snappy', (e as Error).message);
    }
  };
  return {
    name: 'snappy',
    library: LIBRARIES.snappy,
    compress(records) {
      const blocks = Math.max(1, Math.ceil(records.length / XERIAL_BLOCK_SIZE));
      const parts: Buffer[] = [xerialHeader()];
      for (let i = 0; i < blocks; i++) {
        const c = snappy.compressSync(records.subarray(i * XERIAL_BLOCK_SIZE, (i + 1) * XERIAL_BLOCK_SIZE));
        const len = Buffer.allocUnsafe(4);
        len.writeInt32BE(c.length, 0);
        parts.push(len, c);
      }
      return Buffer.concat(parts);
    },
    decompress(data, maxBytes) {
      if (!isXerial(data, 0)) {
        const out = inflateBlock(data, maxBytes);
        if (out === OVER_LIMIT) throw new InflateLimitError('snappy', maxBytes);
        return out;
      }
      const parts: Buffer[] = [];
      let total = 0;
      let p = 0;
      while (p < data.length) {
        if (isXerial(data, p)) {
          // A stream may be several SnappyOutputStreams concatenated, each with its header.
          if (data.length - p < XERIAL_HEADER_SIZE) throw corrupt('snappy', 'truncated xerial header');
          p += XERIAL_HEADER_SIZE;
          continue;
        }
        if (data.length - p < 4) throw corrupt('snappy', 'truncated xerial chunk length');
        const len = data.readInt32BE(p);
        p += 4;
        if (len < 0 || len > data.length - p) throw corrupt('snappy', `xerial chunk of ${len} bytes overruns the data`);
        const out = inflateBlock(data.subarray(p, p + len), maxBytes - total);
        if (out === OVER_LIMIT) throw new InflateLimitError('snappy', maxBytes);
        parts.push(out);
        total += out.length;
        p += len;
      }
      return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
    },
  };
}

const OVER_LIMIT = Buffer.alloc(0);

function xerialHeader(): Buffer {
  const h = Buffer.alloc(XERIAL_HEADER_SIZE);
  XERIAL_MAGIC.copy(h, 0);
  h.writeInt32BE(1, 8);
  h.writeInt32BE(1, 12);
  return h;
}

function isXerial(data: Buffer, at: number): boolean {
  return data.length - at >= XERIAL_MAGIC.length && data.compare(XERIAL_MAGIC, 0, XERIAL_MAGIC.length, at, at + XERIAL_MAGIC.length) === 0;
}

/** A raw snappy block's uncompressed length (varint32 preamble), or null when malformed. */
function snappyPreamble(block: Buffer): number | null {
  let v = 0;
  for (let i = 0; i < 5 && i < block.length; i++) {
    const b = block[i];
    v += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return v <= 0xffffffff ? v : null;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// lz4
//
// Kafka's lz4 is the LZ4 frame format (KafkaLZ4BlockOutputStream; librdkafka's LZ4F): magic
// 0x184D2204 LE | FLG | BD | [content size u64] | [dict id u32] | HC | blocks | end mark 0 |
// [content checksum]. Each block: u32 LE size (high bit: stored uncompressed) | data |
// [block checksum]. The frame is parsed here and each block inflated by lz4_flex's block decoder
// into at most the frame's maximum block size (64 KiB … 4 MiB), so the bound is checked block
// by block. Linked blocks (B.Indep clear) get the previous 64 KiB of output as their dictionary.
// Written as Java writes it: 64 KiB independent blocks, no checksums, no content size.

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_MAX = [0, 0, 0, 0, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024];
const LZ4_DICT_SIZE = 64 * 1024;
/** Magic, FLG 0x60 (version 1, independent blocks, no checksums, no size), BD 0x40 (64 KiB), HC. */
const LZ4_FRAME_HEADER = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
const LZ4_WRITE_BLOCK = 64 * 1024;
const LZ4_END_MARK = Buffer.alloc(4);

function lz4Codec(): Codec {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const lz4 = require('lz4-napi') as typeof import('lz4-napi');
  const inflateBlock = (block: Buffer, blockMax: number, dict: Buffer | null): Buffer => {
    // lz4_flex's "size prepended" input: u32 LE capacity, then the block. The capacity is the
    // frame's block maximum; the result is as long as the block really inflates to.
    const input = Buffer.allocUnsafe(4 + block.length);
    input.writeUInt32LE(blockMax, 0);
    block.copy(input, 4);
    try {
      return dict === null ? lz4.uncompressSync(input) : lz4.uncompressSync(input, dict);
    } catch (e) {
      throw corrupt('lz4', (e as Error).message);
    }
  };
  return {
    name: 'lz4',
    library: LIBRARIES.lz4,
    compress(records) {
      const parts: Buffer[] = [LZ4_FRAME_HEADER];
      for (let at = 0; at < records.length; at += LZ4_WRITE_BLOCK) {
        const chunk = records.subarray(at, at + LZ4_WRITE_BLOCK);
        const c = lz4.compressSync(chunk); // u32 LE uncompressed size | block
        const size = Buffer.allocUnsafe(4);
        if (c.length - 4 < chunk.length) {
          size.writeUInt32LE(c.length - 4, 0);
          parts.push(size, c.subarray(4));
        } else {
          size.writeUInt32LE((chunk.length | 0x80000000) >>> 0, 0);
          parts.push(size, chunk);
        }
      }
      parts.push(LZ4_END_MARK);
      return Buffer.concat(parts);
    },
    decompress(data, maxBytes) {
      const parts: Buffer[] = [];
      let total = 0;
      let p = 0;
      const need = (n: number, what: string): void => {
        if (data.length - p < n) throw corrupt('lz4', `truncated ${what}`);
      };
      while (p < data.length) {
        need(4, 'frame magic');
        const magic = data.readUInt32LE(p);
        p += 4;
        if ((magic & 0xfffffff0) === 0x184d2a50) {
          // Skippable frame: u32 LE size, then that many bytes.
          need(4, 'skippable frame size');
          const size = data.readUInt32LE(p);
          p += 4;
          need(size, 'skippable frame');
          p += size;
          continue;
        }
        if (magic !== LZ4_MAGIC) throw corrupt('lz4', `not an LZ4 frame (magic 0x${magic.toString(16)})`);
        need(3, 'frame descriptor');
        const flg = data[p];
        const bd = data[p + 1];
        p += 2;
        if (flg >> 6 !== 1) throw corrupt('lz4', `frame version ${flg >> 6} is not 1`);
        const independent = (flg & 0x20) !== 0;
        const blockChecksum = (flg & 0x10) !== 0;
        const contentSize = (flg & 0x08) !== 0;
        const contentChecksum = (flg & 0x04) !== 0;
        if ((flg & 0x01) !== 0) throw corrupt('lz4', 'frames with a dictionary id are not supported');
        const blockMax = LZ4_BLOCK_MAX[(bd >> 4) & 0x07];
        if (blockMax === 0 || (bd & 0x8f) !== 0) throw corrupt('lz4', `bad block descriptor 0x${bd.toString(16)}`);
        if (contentSize) {
          need(9, 'content size');
          const declared = data.readBigUInt64LE(p);
          if (declared > BigInt(maxBytes - total)) throw new InflateLimitError('lz4', maxBytes);
          p += 8;
        }
        p += 1; // header checksum
        let history: Buffer | null = null;
        for (;;) {
          need(4, 'block size');
          const word = data.readUInt32LE(p);
          p += 4;
          if (word === 0) break; // end mark
          const stored = (word & 0x80000000) !== 0;
          const size = word & 0x7fffffff;
          if (size > blockMax) throw corrupt('lz4', `block of ${size} bytes exceeds the frame's ${blockMax}`);
          need(size + (blockChecksum ? 4 : 0), 'block');
          const block = data.subarray(p, p + size);
          p += size + (blockChecksum ? 4 : 0);
          let out: Buffer;
          if (stored) out = block;
          else out = inflateBlock(block, blockMax, independent ? null : history);
          total += out.length;
          if (total > maxBytes) throw new InflateLimitError('lz4', maxBytes);
          parts.push(out);
          if (!independent) history = lz4History(history, out);
        }
        if (contentChecksum) {
          need(4, 'content checksum');
          p += 4;
        }
      }
      return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
    },
  };
}

/** The last 64 KiB of output, the dictionary of the next linked block. */
function lz4History(prev: Buffer | null, out: Buffer): Buffer {
  if (out.length >= LZ4_DICT_SIZE || prev === null) return out.subarray(Math.max(0, out.length - LZ4_DICT_SIZE));
  const joined = Buffer.concat([prev, out]);
  return joined.subarray(Math.max(0, joined.length - LZ4_DICT_SIZE));
}

// ---------------------------------------------------------------------------------------------
// zstd
//
// libzstd through zstd-napi's thin binding. A single frame that declares its content size (what
// one-shot compression writes) is inflated in one call into a buffer of exactly that size, which
// must not exceed the bound; anything else (streamed frames without a size, as Java's
// ZstdOutputStream writes, several frames) is streamed 128 KiB at a time and stopped at the
// bound. libzstd caps the window a frame may ask for at 128 MiB (ZSTD_WINDOWLOG_LIMIT_DEFAULT,
// the same limit every Kafka consumer has).

const ZSTD_LEVEL = 3; // Kafka's default compression.zstd.level
const ZSTD_CHUNK = 128 * 1024;

function zstdCodec(): Codec {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const binding = require('zstd-napi/binding') as typeof import('zstd-napi/binding');
  const cctx = new binding.CCtx();
  cctx.setParameter(binding.CParameter.compressionLevel, ZSTD_LEVEL);
  const dctx = new binding.DCtx();
  let scratch: Buffer | null = null;
  return {
    name: 'zstd',
    library: `${LIBRARIES.zstd} ${binding.versionString()}`,
    compress(records) {
      const out = Buffer.allocUnsafe(binding.compressBound(records.length));
      const n = cctx.compress2(out, records);
      return out.subarray(0, n);
    },
    decompress(data, maxBytes) {
      try {
        const declared = data.length >= 4 ? binding.getFrameContentSize(data) : null;
        if (declared !== null && binding.findFrameCompressedSize(data) === data.length) {
          if (declared > maxBytes) throw new InflateLimitError('zstd', maxBytes);
          const out = Buffer.allocUnsafe(declared);
          const n = dctx.decompress(out, data);
          if (n !== declared) throw corrupt('zstd', `frame declares ${declared} bytes, holds ${n}`);
          return out;
        }
        dctx.reset(binding.ResetDirective.sessionOnly);
        scratch ??= Buffer.allocUnsafe(ZSTD_CHUNK);
        const parts: Buffer[] = [];
        let total = 0;
        let p = 0;
        let frameDone = true;
        for (;;) {
          const [hint, produced, consumed] = dctx.decompressStream(scratch, data.subarray(p));
          p += consumed;
          if (produced > 0) {
            total += produced;
            if (total > maxBytes) throw new InflateLimitError('zstd', maxBytes);
            parts.push(Buffer.from(scratch.subarray(0, produced)));
          }
          frameDone = hint === 0;
          if (p === data.length && produced < scratch.length) break;
          if (produced === 0 && consumed === 0) break;
        }
        if (!frameDone || p !== data.length) throw corrupt('zstd', 'truncated frame');
        return Buffer.concat(parts, total);
      } catch (e) {
        if (e instanceof StrataError) throw e;
        throw corrupt('zstd', (e as Error).message);
      }
    },
  };
}
