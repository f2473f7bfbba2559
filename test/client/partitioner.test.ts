import { crc32 } from '@node-rs/crc32';
import { StickyPartitioner, librdkafkaPartition, murmur2, murmur2Partition, toPositive } from '../../core/client/partitioner';

describe('murmur2', () => {
  // Vectors from Kafka's own UtilsTest.testMurmur2: placement must match the Java client.
  const KAFKA_VECTORS: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];

  it.each(KAFKA_VECTORS)('hashes %j as the Java client does', (input, expected) => {
    expect(murmur2(Buffer.from(input))).toBe(expected);
  });

  it('agrees with kafkajs (a second implementation of the Java hash) on many keys of every tail length', () => {
    // kafkajs' DefaultPartitioner ports the Java murmur2; compare on keys of length 0..64.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer) => number;
    for (let len = 0; len <= 64; len++) {
      for (let seed = 0; seed < 5; seed++) {
        const key = Buffer.alloc(len, 0);
        for (let i = 0; i < len; i++) key[i] = (i * 31 + seed * 97 + 7) & 0xff; // all byte values, incl. >= 0x80
        expect(murmur2(key)).toBe(kafkajsMurmur2(key));
      }
    }
  });

  it('maps keys to toPositive(hash) % n', () => {
    expect(toPositive(-790332482)).toBe(1357151166);
    expect(murmur2Partition(Buffer.from('foobar'), 10)).toBe(1357151166 % 10);
    expect(murmur2Partition(Buffer.from('foobar'), 1)).toBe(0);
    expect(toPositive(-2147483648)).toBe(0); // Math.abs would overflow in Java
  });

  it('rejects a non-positive partition count', () => {
    expect(() => murmur2Partition(Buffer.from('a'), 0)).toThrow(RangeError);
  });
});

describe('librdkafkaPartition (consistent_random)', () => {
  it('uses the IEEE CRC32 of the key', () => {
    // Check value of CRC-32/ISO-HDLC: crc32("123456789") = 0xCBF43926.
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(librdkafkaPartition(Buffer.from('123456789'), 7)).toBe(0xcbf43926 % 7);
    for (const key of ['a', 'key-1', 'key-2', 'orders/42', 'ü']) {
      const b = Buffer.from(key);
      expect(librdkafkaPartition(b, 12)).toBe(crc32(b) % 12);
    }
  });

  it('puts null and empty keys on a random valid partition', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const p = librdkafkaPartition(i % 2 ? null : Buffer.alloc(0), 4);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(4);
      seen.add(p);
    }
    expect(seen.size).toBeGreaterThan(1);
  });
});

describe('StickyPartitioner', () => {
  it('keeps one partition until nextBatch, then moves round-robin', () => {
    const s = new StickyPartitioner();
    const first = s.partition(3);
    expect(s.partition(3)).toBe(first);
    s.nextBatch(3);
    expect(s.partition(3)).toBe((first + 1) % 3);
    s.nextBatch(3);
    s.nextBatch(3);
    expect(s.partition(3)).toBe(first);
  });

  it('stays in range when the partition count shrinks', () => {
    const s = new StickyPartitioner();
    for (let i = 0; i < 10; i++) s.nextBatch(10);
    expect(s.partition(1)).toBe(0);
  });
});
