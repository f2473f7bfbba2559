import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import * as snappy from 'snappy';
import { StrataError } from '../../core/common/errors';
import { CODEC_NAMES, CodecName, InflateLimitError, codecStatus, compressRecords, decompressRecords } from '../../core/log/codecs';
import { decodeRecordBatches } from '../../core/log/recordDecoder';

/**
 * core/log/codecs.ts: every codec round-trips, writes what Kafka's Java client writes, reads what
 * librdkafka, the Java client and the reference CLIs write, stops every inflate at its bound, and
 * turns damaged input into BATCH_CORRUPT rather than a crash.
 */

const FIXTURES = path.join(__dirname, '../fixtures/codecs');
const fixture = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, name));
/** The text the lz4/zstd CLI fixtures hold (fixtures README). */
const CLI_TEXT = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i} ${'abcdefghij'.repeat(i % 7)}\n`).join(''));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

const text = (n: number): Buffer => {
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const s = `{"order":${i},"customer":"c-${i % 97}","status":"${['paid', 'shipped', 'created'][i % 3]}"}\n`;
    parts.push(s);
    len += s.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
};

test('every codec is available here, with its library named', () => {
  const s = codecStatus();
  for (const n of CODEC_NAMES) expect(s[n]).toMatchObject({ available: true });
  expect(s.zstd.library).toMatch(/^zstd-napi \(libzstd\) 1\.\d+\.\d+$/);
});

describe.each(CODEC_NAMES)('%s', (codec: CodecName) => {
  it('round-trips empty, small, block-boundary, incompressible and multi-block inputs', () => {
    const inputs = [Buffer.alloc(0), Buffer.from('x'), text(32 * 1024), text(64 * 1024), text(64 * 1024 + 1), randomBytes(200_000), text(3 * 1024 * 1024 + 17)];
    for (const input of inputs) {
      const z = compressRecords(codec, input);
      expect(decompressRecords(codec, z, input.length).equals(input)).toBe(true);
    }
  });

  it('stops at the bound, exactly', () => {
    const input = Buffer.alloc(1 << 20, 7); // compresses to almost nothing: a small bomb
    const z = compressRecords(codec, input);
    expect(z.length).toBeLessThan(70_000);
    expect(decompressRecords(codec, z, input.length).length).toBe(input.length);
    const e = thrown(() => decompressRecords(codec, z, input.length - 1));
    expect(e).toBeInstanceOf(InflateLimitError);
    expect(e).toMatchObject({ code: 'BATCH_CORRUPT', message: `${codec} records inflate to more than ${input.length - 1} bytes` });
  });

  it('turns truncated, bit-flipped and random input into BATCH_CORRUPT, never a crash', () => {
    const input = text(200_000);
    const z = compressRecords(codec, input);
    const bad: Buffer[] = [Buffer.alloc(0), randomBytes(1), z.subarray(0, 3), z.subarray(0, z.length >> 1), z.subarray(0, z.length - 1)];
    for (let i = 0; i < 20; i++) {
      const flipped = Buffer.from(z);
      for (let j = 0; j < 8; j++) flipped[(i * 7919 + j * 104729) % flipped.length] ^= 1 << (j % 8);
      bad.push(flipped);
    }
    for (const b of bad) {
      let out: Buffer | null = null;
      try {
        out = decompressRecords(codec, b, 1 << 20);
      } catch (e) {
        expect(e).toBeInstanceOf(StrataError);
        expect((e as StrataError).code).toBe('BATCH_CORRUPT');
      }
      // A flip the format cannot notice (inside a literal) may still decode: never past the bound.
      if (out !== null) expect(out.length).toBeLessThanOrEqual(1 << 20);
    }
  });

  it('on arbitrary bytes either decodes within the bound or throws BATCH_CORRUPT (property)', () => {
    const z = compressRecords(codec, text(10_000));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(z.length), (noise, at) => {
        for (const input of [Buffer.from(noise), Buffer.concat([z.subarray(0, at), Buffer.from(noise)])]) {
          try {
            expect(decompressRecords(codec, input, 50_000).length).toBeLessThanOrEqual(50_000);
          } catch (e) {
            expect((e as StrataError).code).toBe('BATCH_CORRUPT');
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('what is written: as Kafka’s Java client writes it', () => {
  it('snappy: xerial framing, 32 KiB blocks', () => {
    const z = compressRecords('snappy', text(100_000));
    expect(z.subarray(0, 16).toString('hex')).toBe('82534e41505059000000000100000001');
    let p = 16;
    const blocks: number[] = [];
    while (p < z.length) {
      const len = z.readInt32BE(p);
      blocks.push(snappy.uncompressSync(z.subarray(p + 4, p + 4 + len), { asBuffer: true }).length);
      p += 4 + len;
    }
    expect(blocks).toEqual([32768, 32768, 32768, 100_000 - 3 * 32768]);
  });

  it('lz4: one frame, 64 KiB independent blocks, no checksums or size; incompressible blocks stored', () => {
    const z = compressRecords('lz4', Buffer.concat([text(65_536), randomBytes(10_000)]));
    expect(z.subarray(0, 7).toString('hex')).toBe('04224d18604082');
    const sizes: [number, boolean][] = [];
    let p = 7;
    for (;;) {
      const w = z.readUInt32LE(p);
      p += 4;
      if (w === 0) break;
      sizes.push([w & 0x7fffffff, (w & 0x80000000) !== 0]);
      p += w & 0x7fffffff;
    }
    expect(p).toBe(z.length);
    expect(sizes.length).toBe(2);
    expect(sizes[0][1]).toBe(false);
    expect(sizes[1]).toEqual([10_000, true]); // random bytes: stored, not compressed
  });

  it('zstd: one frame with its content size; gzip: one member', () => {
    const z = compressRecords('zstd', text(1000));
    expect(z.readUInt32LE(0)).toBe(0xfd2fb528);
    expect(compressRecords('gzip', text(10)).subarray(0, 2).toString('hex')).toBe('1f8b');
  });
});

describe('what is read: other writers', () => {
  it('snappy: one raw block (librdkafka) and concatenated xerial streams (Java)', () => {
    const t = text(80_000);
    expect(decompressRecords('snappy', snappy.compressSync(t)).equals(t)).toBe(true);
    const two = Buffer.concat([compressRecords('snappy', t.subarray(0, 50_000)), compressRecords('snappy', t.subarray(50_000))]);
    expect(decompressRecords('snappy', two).equals(t)).toBe(true);
  });

  it('lz4: the lz4 CLI’s linked blocks with block and content checksums and content size', () => {
    const z = fixture('lz4-cli-linked-checksums.lz4');
    expect(z[4]).toBe(0x5c); // FLG: version 1, linked blocks, block checksums, content size, content checksum
    expect(decompressRecords('lz4', z).equals(CLI_TEXT)).toBe(true);
    // Its content size is checked against the bound before any block is inflated.
    expect(thrown(() => decompressRecords('lz4', z, CLI_TEXT.length - 1))).toBeInstanceOf(InflateLimitError);
  });

  it('lz4: skippable frames and concatenated frames', () => {
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    const t = text(1000);
    expect(decompressRecords('lz4', Buffer.concat([skippable, compressRecords('lz4', t), compressRecords('lz4', t)])).equals(Buffer.concat([t, t]))).toBe(true);
  });

  it('zstd: a streamed frame without content size (the zstd CLI, librdkafka, Java) and concatenated frames', () => {
    const z = fixture('zstd-cli-streamed.zst');
    expect(decompressRecords('zstd', z).equals(CLI_TEXT)).toBe(true);
    expect(thrown(() => decompressRecords('zstd', z, 100_000))).toBeInstanceOf(InflateLimitError);
    const t = text(5000);
    expect(decompressRecords('zstd', Buffer.concat([compressRecords('zstd', t), z])).equals(Buffer.concat([t, CLI_TEXT]))).toBe(true);
  });

  it.each(CODEC_NAMES)('%s batches from librdkafka (kcat) and the Java client decode', (codec) => {
    const [k] = decodeRecordBatches(fixture(`kcat-${codec}.batch`));
    expect(k.compression).toBe(codec);
    expect(k.records.map((r) => [r.key?.toString() ?? null, r.value!.toString().replace(/-[abc]+$/, '')])).toEqual([
      ['k1', `value-one-${codec}`],
      ['k2', `value-two-${codec}`],
      [null, `keyless-${codec}`],
      ['k1', `value-three-${codec}`],
    ]);
    expect(k.records.every((r) => r.headers.length === 1 && r.headers[0].key === 'h1' && r.headers[0].value!.toString() === 'v1')).toBe(true);
    const [j] = decodeRecordBatches(fixture(`java-${codec}.batch`));
    expect(j.compression).toBe(codec);
    expect(j.records.map((r) => `${r.key}=${r.value}`)).toEqual(Array.from({ length: 30 }, (_, i) => `k-${i % 10}=v-${i}`));
  });

  it.each(['snappy', 'lz4', 'zstd'] as const)('a 118 KB %s batch from librdkafka decodes (several blocks)', (codec) => {
    const [b] = decodeRecordBatches(fixture(`kcat-${codec}-200.batch`));
    expect(b.compression).toBe(codec);
    expect(b.records.map((r) => r.key!.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `key-${i % 37}`));
    expect(b.records.map((r) => (JSON.parse(r.value!.toString()) as { order: number }).order)).toEqual(Array.from({ length: 200 }, (_, i) => 100000 + i));
  });
});

describe('hostile sizes are refused before anything is allocated', () => {
  it('snappy: a raw block or a xerial chunk claiming 4 GiB', () => {
    const claim = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]); // varint 2^32 - 1, then junk
    expect(thrown(() => decompressRecords('snappy', claim))).toBeInstanceOf(InflateLimitError);
    const xerial = Buffer.concat([compressRecords('snappy', Buffer.alloc(0)).subarray(0, 16), Buffer.from([0, 0, 0, 6]), claim]);
    expect(thrown(() => decompressRecords('snappy', xerial))).toBeInstanceOf(InflateLimitError);
  });

  it('lz4: a frame declaring a 1 TiB content size', () => {
    const frame = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x68, 0x40, 0, 0, 0, 0, 0, 1, 0, 0, 0x00, 0, 0, 0, 0]);
    expect(thrown(() => decompressRecords('lz4', frame))).toBeInstanceOf(InflateLimitError);
  });

  it('zstd: a frame declaring a 1 TiB content size', () => {
    // magic | FHD 0xE0 (8-byte content size, single segment) | size | last raw block of 0 bytes
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0, 0]);
    expect(thrown(() => decompressRecords('zstd', frame))).toBeInstanceOf(InflateLimitError);
  });

  it('lz4: a block larger than the frame’s block size is corrupt', () => {
    const frame = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]), Buffer.from([0x01, 0x00, 0x01, 0x80]), Buffer.alloc(65537)]);
    expect(thrown(() => decompressRecords('lz4', frame))).toMatchObject({ code: 'BATCH_CORRUPT', message: expect.stringMatching(/exceeds the frame's 65536/) });
  });
});
