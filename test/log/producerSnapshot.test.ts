import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { crc32c } from '../../core/log/crc32c';
import { ProducerSnapshotState, decodeProducerSnapshot, encodeProducerSnapshot } from '../../core/log/producerSnapshot';
import { AppendBatch, ProducerEntry, ProducerStateManager } from '../../core/log/producerState';
import {
  parseProducerSnapshotFileName,
  parseSegmentFileName,
  parseTxnIndexFileName,
  producerSnapshotFileName,
  txnIndexFileName,
} from '../../core/log/segmentFiles';
import { makeTmpDir, removeDir } from './helpers';
import { codeOf } from './helpers';

/** The snapshot below, as format v1 writes it: reading it must never change (STYLE: on-disk fixtures). */
const FIXTURE_STATE: ProducerSnapshotState = {
  endOffset: 300n,
  producers: [
    {
      producerId: 7n,
      producerEpoch: 2,
      coordinatorEpoch: 4,
      lastTimestamp: 1_700_000_000_000n,
      currentTxnFirstOffset: 290n,
      batches: [
        { firstSeq: 10, lastSeq: 12, firstOffset: 280n, lastOffset: 282n, timestamp: 1_699_999_999_000n },
        { firstSeq: 13, lastSeq: 13, firstOffset: 290n, lastOffset: 290n, timestamp: 1_700_000_000_000n },
      ],
    },
    { producerId: 9n, producerEpoch: 0, coordinatorEpoch: -1, lastTimestamp: 5n, currentTxnFirstOffset: null, batches: [] },
  ],
  unreplicatedTxns: [{ producerId: 9n, firstOffset: 250n, lastOffset: 295n }],
};
const FIXTURE_HEX = [
  '5350534e', // "SPSN"
  '0001', // version 1
  '4edf3664', // CRC-32C of the rest
  '000000000000012c', // endOffset 300
  '00000002', // 2 producers
  '0000000000000007 0002 00000004 0000018bcfe56800 0000000000000122 02', // pid 7, epoch 2, coord 4, ts, txn 290, 2 batches
  '0000000a 0000000c 0000000000000118 000000000000011a 0000018bcfe56418', // seq 10..12, offsets 280..282
  '0000000d 0000000d 0000000000000122 0000000000000122 0000018bcfe56800', // seq 13, offset 290
  '0000000000000009 0000 ffffffff 0000000000000005 ffffffffffffffff 00', // pid 9, no txn, no batches
  '00000001', // 1 unreplicated transaction
  '0000000000000009 00000000000000fa 0000000000000127', // pid 9, 250..295
]
  .join('')
  .replace(/ /g, '');

describe('producer snapshot file names', () => {
  it('are a strict build/parse pair', () => {
    for (const o of [0n, 1n, 1234n, 2n ** 63n - 1n]) {
      expect(parseProducerSnapshotFileName(producerSnapshotFileName(o))).toBe(o);
      expect(parseTxnIndexFileName(txnIndexFileName(o))).toBe(o);
    }
    expect(producerSnapshotFileName(1234n)).toBe('00000000000000001234.snapshot');
    expect(txnIndexFileName(1234n)).toBe('00000000000000001234.txnindex');
    for (const bad of ['0000000000000001234.snapshot', '00000000000000001234.snapshot.tmp', '00000000000000001234.SNAPSHOT', '99999999999999999999.snapshot', '00000000000000001234.txnindex', 'snapshot']) {
      expect(parseProducerSnapshotFileName(bad)).toBeNull();
    }
    for (const bad of ['00000000000000001234.snapshot', '00000000000000001234.txnindex.deleted', '99999999999999999999.txnindex']) {
      expect(parseTxnIndexFileName(bad)).toBeNull();
    }
    expect(codeOf(() => producerSnapshotFileName(-1n))).toBe('OFFSET_OUT_OF_RANGE');
    expect(codeOf(() => txnIndexFileName(2n ** 63n))).toBe('OFFSET_OUT_OF_RANGE');
  });

  it('are not segment files, so listing segments ignores them', () => {
    expect(parseSegmentFileName(producerSnapshotFileName(5n))).toBeNull();
    expect(parseSegmentFileName(txnIndexFileName(5n))).toBeNull();
  });
});

describe('snapshot encoding', () => {
  it('reads the committed v1 fixture', () => {
    const bytes = Buffer.from(FIXTURE_HEX, 'hex');
    expect(decodeProducerSnapshot(bytes)).toEqual(FIXTURE_STATE);
    expect(encodeProducerSnapshot(FIXTURE_STATE).toString('hex')).toBe(FIXTURE_HEX);
    expect(bytes.readUInt32BE(6)).toBe(crc32c(bytes.subarray(10)));
  });

  const genEntry: fc.Arbitrary<ProducerEntry> = fc.record({
    producerId: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
    producerEpoch: fc.integer({ min: -1, max: 32767 }),
    coordinatorEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    lastTimestamp: fc.bigInt({ min: -1n, max: 2n ** 62n }),
    currentTxnFirstOffset: fc.option(fc.bigInt({ min: 0n, max: 2n ** 62n }), { nil: null }),
    batches: fc.array(
      fc.record({
        firstSeq: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        lastSeq: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        firstOffset: fc.bigInt({ min: 0n, max: 2n ** 61n }),
        lastOffset: fc.constant(0n),
        timestamp: fc.bigInt({ min: -1n, max: 2n ** 62n }),
      }).map((b) => ({ ...b, lastOffset: b.firstOffset + 3n })),
      { maxLength: 5 },
    ),
  });
  const genState: fc.Arbitrary<ProducerSnapshotState> = fc.record({
    endOffset: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
    producers: fc.uniqueArray(genEntry, { selector: (e) => e.producerId, maxLength: 8 }),
    unreplicatedTxns: fc.array(
      fc.record({ producerId: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), firstOffset: fc.bigInt({ min: 0n, max: 2n ** 62n }), lastOffset: fc.bigInt({ min: 0n, max: 2n ** 62n }) }),
      { maxLength: 4 },
    ),
  });

  it('round-trips any state', () => {
    fc.assert(fc.property(genState, (s) => expect(decodeProducerSnapshot(encodeProducerSnapshot(s))).toEqual(s)), { numRuns: 300 });
  });

  it('refuses every truncation and any appended byte', () => {
    const bytes = encodeProducerSnapshot(FIXTURE_STATE);
    for (let n = 0; n < bytes.length; n++) expect(codeOf(() => decodeProducerSnapshot(bytes.subarray(0, n)))).toBe('STORAGE_IO');
    expect(codeOf(() => decodeProducerSnapshot(Buffer.concat([bytes, Buffer.alloc(1)])))).toBe('STORAGE_IO');
  });

  it('refuses any flipped byte', () => {
    const bytes = encodeProducerSnapshot(FIXTURE_STATE);
    for (let i = 0; i < bytes.length; i++) {
      const bad = Buffer.from(bytes);
      bad[i] ^= 0x20;
      expect(codeOf(() => decodeProducerSnapshot(bad))).toBe('STORAGE_IO');
    }
  });

  /** Rewrites a field and fixes the CRC, as a hostile or buggy writer would. */
  function patched(edit: (b: Buffer) => void, from = encodeProducerSnapshot(FIXTURE_STATE)): Buffer {
    const b = Buffer.from(from);
    edit(b);
    b.writeUInt32BE(crc32c(b.subarray(10)), 6);
    return b;
  }

  it.each([
    ['a huge producer count', (b: Buffer) => b.writeInt32BE(0x7fffffff, 18)],
    ['a negative producer count', (b: Buffer) => b.writeInt32BE(-1, 18)],
    ['one producer too many', (b: Buffer) => b.writeInt32BE(3, 18)],
    ['six batches', (b: Buffer) => b.writeInt8(6, 22 + 30)],
    ['a negative batch count', (b: Buffer) => b.writeInt8(-1, 22 + 30)],
    ['a huge unreplicated count', (b: Buffer) => b.writeInt32BE(0x7fffffff, b.length - 28)],
    ['a negative end offset', (b: Buffer) => b.writeBigInt64BE(-5n, 10)],
    ['a repeated producer id', (b: Buffer) => b.writeBigInt64BE(7n, 22 + 31 + 64)],
    ['an unknown version', (b: Buffer) => b.writeInt16BE(2, 4)],
    ['a batch ending before it starts', (b: Buffer) => b.writeBigInt64BE(1n, 22 + 31 + 16)],
  ])('refuses %s without allocating for it', (_what, edit) => {
    expect(codeOf(() => decodeProducerSnapshot(patched(edit)))).toBe('STORAGE_IO');
  });

  it('bounds decoding by the buffer whatever the bytes say', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 299 }), (noise, at) => {
        const b = patched((x) => Buffer.from(noise).copy(x, Math.min(at, x.length)));
        try {
          const s = decodeProducerSnapshot(b);
          expect(s.producers.length * 31).toBeLessThanOrEqual(b.length);
        } catch (e) {
          expect(isStrataError(e, 'STORAGE_IO')).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a Kafka snapshot file (same version number, no magic)', () => {
    const kafka = Buffer.alloc(10);
    kafka.writeInt16BE(1, 0);
    kafka.writeUInt32BE(crc32c(kafka.subarray(6)), 2);
    expect(codeOf(() => decodeProducerSnapshot(kafka))).toBe('STORAGE_IO');
  });
});

describe('snapshot files', () => {
  let dir: string;
  let clock: number;
  let lines: string[];
  const open = (expirationMs = 3_600_000): ProducerStateManager =>
    new ProducerStateManager(dir, { producerIdExpirationMs: expirationMs, now: () => clock, logger: (m) => lines.push(m) });

  beforeEach(() => {
    dir = makeTmpDir('strata-psnap-');
    clock = 1_700_000_000_000;
    lines = [];
  });
  afterEach(() => removeDir(dir));

  let next = 0n;
  function append(psm: ProducerStateManager, specs: Partial<AppendBatch>[], origin: 'client' | 'coordinator' | 'replication' = 'client'): void {
    next = psm.endOffset;
    const batches = specs.map((s): AppendBatch => {
      const b: AppendBatch = {
        producerId: 1n,
        producerEpoch: 0,
        baseSequence: 0,
        lastOffsetDelta: 0,
        baseOffset: next,
        maxTimestamp: BigInt(clock),
        isTransactional: false,
        isControl: false,
        ...s,
      };
      next += BigInt(b.lastOffsetDelta) + 1n;
      return b;
    });
    const staged = psm.stage(batches, origin);
    psm.commit(staged);
    for (const c of staged.completedTxns) psm.completeTxn(c);
  }

  /** Two producers, seven batches, an open transaction and a completed one above the HW. */
  function populate(psm: ProducerStateManager): void {
    for (let i = 0; i < 6; i++) append(psm, [{ producerId: 1n, baseSequence: i * 2, lastOffsetDelta: 1 }]);
    append(psm, [{ producerId: 2n, producerEpoch: 3, baseSequence: 0, isTransactional: true }]);
    append(psm, [{ producerId: 2n, producerEpoch: 3, isControl: true, isTransactional: true, baseSequence: -1, marker: { type: 'ABORT', coordinatorEpoch: 6 } }], 'coordinator');
    append(psm, [{ producerId: 3n, producerEpoch: 1, baseSequence: 40, isTransactional: true, lastOffsetDelta: 2 }]);
  }

  function stateOf(psm: ProducerStateManager): unknown {
    return {
      producers: psm.activeProducers(),
      ongoing: psm.ongoingTransactions(),
      unreplicated: psm.unreplicatedTransactions(),
      firstUnstable: psm.firstUnstableOffset(),
      endOffset: psm.endOffset,
    };
  }

  it('round-trip through a file: every kept batch, epochs, transactions, end offset', () => {
    const a = open();
    populate(a);
    const file = a.takeSnapshot();
    expect(file).toBe(path.join(dir, '00000000000000000017.snapshot'));
    expect(fs.readdirSync(dir)).toEqual(['00000000000000000017.snapshot']); // no temp file left
    const b = open();
    expect(b.snapshotOffsets()).toEqual([17n]);
    expect(b.loadSnapshot(17n)).toBe(17n);
    expect(stateOf(b)).toEqual(stateOf(a));
    expect(b.entry(1n)!.batches).toHaveLength(5);
    expect(b.unreplicatedTransactions()).toEqual([{ producerId: 2n, firstOffset: 12n, lastOffset: 13n }]);
    expect(b.ongoingTransactions()).toEqual([{ producerId: 3n, firstOffset: 14n }]);
    // Duplicate detection and sequence checks carry over the restart.
    expect(b.findDuplicate({ producerId: 1n, producerEpoch: 0, baseSequence: 4, lastOffsetDelta: 1, baseOffset: 99n, maxTimestamp: 1n, isTransactional: false, isControl: false })).toMatchObject({ firstOffset: 4n, lastOffset: 5n });
    expect(codeOf(() => b.stage([{ producerId: 1n, producerEpoch: 0, baseSequence: 13, lastOffsetDelta: 0, baseOffset: 17n, maxTimestamp: 1n, isTransactional: false, isControl: false }], 'client'))).toBe('OUT_OF_ORDER_SEQUENCE');
  });

  it('are taken once per end offset', () => {
    const a = open();
    populate(a);
    expect(a.takeSnapshot()).not.toBeNull();
    expect(a.takeSnapshot()).toBeNull();
    // Another manager (e.g. after a restart) finds the file there too.
    const b = open();
    b.setEndOffset(17n);
    expect(b.takeSnapshot()).toBeNull();
    append(a, [{ producerId: 9n }]);
    expect(a.takeSnapshot()).toBe(path.join(dir, '00000000000000000018.snapshot'));
  });

  function snapshotsAt(offsets: bigint[]): ProducerStateManager {
    const psm = open();
    for (const o of offsets) {
      append(psm, [{ producerId: 1n, baseSequence: Number(o) }], 'replication'); // gapped sequences on purpose
      psm.setEndOffset(o);
      psm.takeSnapshot();
    }
    return psm;
  }

  it('fall back to the next older readable snapshot, deleting unreadable ones with a log line', () => {
    snapshotsAt([10n, 20n, 30n, 40n]);
    const corruptAt = (o: bigint, edit: (b: Buffer) => Buffer): void => {
      const f = path.join(dir, producerSnapshotFileName(o));
      fs.writeFileSync(f, edit(fs.readFileSync(f)));
    };
    corruptAt(40n, (b) => {
      b[b.length - 3] ^= 1;
      return b;
    });
    corruptAt(30n, () => Buffer.alloc(0));
    // A file whose content is another offset's state is as wrong as a damaged one.
    fs.copyFileSync(path.join(dir, producerSnapshotFileName(10n)), path.join(dir, producerSnapshotFileName(20n)));
    const psm = open();
    expect(psm.loadSnapshot(100n)).toBe(10n);
    expect(psm.endOffset).toBe(10n);
    expect(psm.entry(1n)!.batches.map((b) => b.firstSeq)).toEqual([10]);
    expect(psm.snapshotOffsets()).toEqual([10n]);
    expect(fs.readdirSync(dir).sort()).toEqual([producerSnapshotFileName(10n)]);
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).toMatch(/00000000000000000040\.snapshot: producer snapshot: CRC-32C mismatch/);
  });

  it('with none readable, load empties the state at the given start', () => {
    snapshotsAt([10n]);
    fs.writeFileSync(path.join(dir, producerSnapshotFileName(10n)), 'garbage');
    const psm = open();
    append(psm, [{ producerId: 5n }]);
    expect(psm.loadSnapshot(10n, 3n)).toBeNull();
    expect(psm.size).toBe(0);
    expect(psm.endOffset).toBe(3n);
    expect(psm.snapshotOffsets()).toEqual([]);
  });

  it('load only at or below the offset asked for', () => {
    const psm = snapshotsAt([10n, 20n, 30n]);
    expect(psm.loadSnapshot(25n)).toBe(20n);
    expect(psm.entry(1n)!.batches.map((b) => b.firstSeq)).toEqual([10, 20]);
    expect(psm.loadSnapshot(9n)).toBeNull();
    expect(psm.snapshotOffsets()).toEqual([10n, 20n, 30n]); // nothing deleted
  });

  it('do not bring back producers that expired meanwhile (Kafka loadFromSnapshot)', () => {
    const a = open(60_000);
    append(a, [{ producerId: 1n, maxTimestamp: BigInt(clock) }]);
    append(a, [{ producerId: 2n, maxTimestamp: BigInt(clock - 120_000), isTransactional: true }]);
    append(a, [{ producerId: 3n, maxTimestamp: BigInt(clock - 120_000) }]);
    a.takeSnapshot();
    const b = open(60_000);
    b.loadSnapshot(10n);
    expect(b.activeProducers().map((e) => e.producerId)).toEqual([1n, 2n]); // 2 is in a transaction
    expect(b.ongoingTransactions()).toEqual([{ producerId: 2n, firstOffset: 1n }]);
  });

  it('latestSnapshotOffset, deleteSnapshotsAbove and deleteSnapshotsBelow', () => {
    const psm = snapshotsAt([10n, 20n, 30n, 40n]);
    expect(psm.latestSnapshotOffset()).toBe(40n);
    expect(psm.latestSnapshotOffset(39n)).toBe(30n);
    expect(psm.latestSnapshotOffset(10n)).toBe(10n);
    expect(psm.latestSnapshotOffset(9n)).toBeNull();
    psm.deleteSnapshotsAbove(30n);
    expect(psm.snapshotOffsets()).toEqual([10n, 20n, 30n]);
    psm.deleteSnapshotsBelow(25n); // keeps 20, the newest at or below 25
    expect(psm.snapshotOffsets()).toEqual([20n, 30n]);
    psm.deleteSnapshotsBelow(5n); // none at or below: nothing to anchor on, nothing deleted
    expect(psm.snapshotOffsets()).toEqual([20n, 30n]);
    expect(fs.readdirSync(dir).sort()).toEqual([producerSnapshotFileName(20n), producerSnapshotFileName(30n)]);
    expect(open().snapshotOffsets()).toEqual([20n, 30n]);
  });

  it('truncateFullyAndStartAt removes every snapshot', () => {
    const psm = snapshotsAt([10n, 20n]);
    psm.truncateFullyAndStartAt(500n);
    expect(psm.snapshotOffsets()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(psm.endOffset).toBe(500n);
    expect(psm.size).toBe(0);
  });

  it('installSnapshot writes a snapshot from elsewhere after checking it', () => {
    const src = open();
    populate(src);
    const bytes = encodeProducerSnapshot(src.snapshotState());
    const other = makeTmpDir('strata-psnap-install-');
    try {
      const dst = new ProducerStateManager(other, { now: () => clock, logger: () => undefined });
      expect(codeOf(() => dst.installSnapshot(bytes, 16n))).toBe('STORAGE_IO'); // not that offset's state
      const bad = Buffer.from(bytes);
      bad[30] ^= 1;
      expect(codeOf(() => dst.installSnapshot(bad, 17n))).toBe('STORAGE_IO');
      expect(fs.readdirSync(other)).toEqual([]);
      expect(dst.installSnapshot(bytes, 17n)).toBe(path.join(other, producerSnapshotFileName(17n)));
      expect(dst.loadSnapshot(17n)).toBe(17n);
      expect(stateOf(dst)).toEqual(stateOf(src));
    } finally {
      removeDir(other);
    }
  });

  it('leftover temp files are removed on open; other files are left alone', () => {
    fs.writeFileSync(path.join(dir, producerSnapshotFileName(10n) + '.tmp'), 'half');
    fs.writeFileSync(path.join(dir, '00000000000000000000.log'), '');
    fs.writeFileSync(path.join(dir, 'partition.metadata'), '');
    fs.writeFileSync(path.join(dir, 'log-start-offset.tmp'), '');
    expect(open().snapshotOffsets()).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual(['00000000000000000000.log', 'log-start-offset.tmp', 'partition.metadata']);
  });

  it('a missing directory has no snapshots', () => {
    const psm = new ProducerStateManager(path.join(dir, 'nope'), { logger: () => undefined });
    expect(psm.snapshotOffsets()).toEqual([]);
    expect(psm.loadSnapshot(100n)).toBeNull();
  });

  it('taking a snapshot into a directory that is gone is STORAGE_IO', () => {
    const psm = new ProducerStateManager(path.join(dir, 'nope'), { logger: () => undefined });
    expect(codeOf(() => psm.takeSnapshot())).toBe('STORAGE_IO');
  });
});
