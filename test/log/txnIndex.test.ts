import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AbortedTxn } from '../../core/log/producerState';
import { txnIndexFileName } from '../../core/log/segmentFiles';
import { ABORTED_TXN_SIZE, TransactionIndex } from '../../core/log/txnIndex';
import { makeTmpDir, removeDir } from './helpers';
import { codeOf } from './helpers';

let dir: string;
let file: string;
let lines: string[];
const open = (): TransactionIndex => TransactionIndex.open(file, { logger: (m) => lines.push(m) });
const txn = (producerId: bigint, firstOffset: bigint, lastOffset: bigint, lastStableOffset: bigint): AbortedTxn => ({ producerId, firstOffset, lastOffset, lastStableOffset });

beforeEach(() => {
  dir = makeTmpDir('strata-txnidx-');
  file = path.join(dir, txnIndexFileName(100n));
  lines = [];
});
afterEach(() => removeDir(dir));

describe('TransactionIndex file', () => {
  it('writes 34-byte entries exactly as Kafka’s AbortedTxn', () => {
    const idx = open();
    idx.append(txn(0x0102030405060708n, 100n, 0x1ffn, 0x200n));
    idx.close();
    expect(fs.readFileSync(file).toString('hex')).toBe(
      '0000' + // version 0
        '0102030405060708' + // producerId
        '0000000000000064' + // firstOffset 100
        '00000000000001ff' + // lastOffset 511
        '0000000000000200', // lastStableOffset 512
    );
    expect(ABORTED_TXN_SIZE).toBe(34);
  });

  it('a missing file is an empty index, created only by the first append', () => {
    const idx = open();
    expect(idx.entries()).toEqual([]);
    expect(idx.sizeInBytes).toBe(0);
    idx.flush();
    idx.truncateTo(0n);
    expect(fs.existsSync(file)).toBe(false);
    idx.append(txn(1n, 100n, 105n, 106n));
    expect(fs.statSync(file).size).toBe(34);
    idx.close();
  });

  it('reopens with its entries', () => {
    const idx = open();
    const all = [txn(1n, 100n, 105n, 103n), txn(2n, 103n, 110n, 111n), txn(1n, 111n, 112n, 113n)];
    for (const t of all) idx.append(t);
    idx.flush();
    idx.close();
    const again = open();
    expect(again.entries()).toEqual(all);
    expect(again.sizeInBytes).toBe(3 * 34);
    again.append(txn(3n, 120n, 130n, 131n));
    again.close();
    expect(open().entries()).toHaveLength(4);
  });

  it('cuts a torn tail off, with a log line', () => {
    const idx = open();
    idx.append(txn(1n, 100n, 105n, 106n));
    idx.append(txn(2n, 106n, 107n, 108n));
    idx.close();
    fs.appendFileSync(file, Buffer.alloc(20, 7));
    const again = open();
    expect(again.entries()).toEqual([txn(1n, 100n, 105n, 106n), txn(2n, 106n, 107n, 108n)]);
    expect(fs.statSync(file).size).toBe(68);
    expect(lines.join('\n')).toMatch(/torn tail of 20 bytes after 2 entries/);
    again.append(txn(3n, 108n, 109n, 110n)); // appends land right after the last whole entry
    again.close();
    expect(open().entries().map((t) => t.producerId)).toEqual([1n, 2n, 3n]);
  });

  it('a file shorter than one entry is empty after the cut', () => {
    fs.writeFileSync(file, Buffer.alloc(33));
    expect(open().entries()).toEqual([]);
    expect(fs.statSync(file).size).toBe(0);
  });

  it.each([
    ['an unknown entry version', (b: Buffer) => b.writeInt16BE(1, 34)],
    ['entries whose lastOffset goes back', (b: Buffer) => b.writeBigInt64BE(100n, 34 + 18)],
  ])('refuses %s (STORAGE_IO: rebuild it from the log)', (_what, edit) => {
    const idx = open();
    idx.append(txn(1n, 100n, 105n, 106n));
    idx.append(txn(2n, 106n, 107n, 108n));
    idx.close();
    const b = fs.readFileSync(file);
    edit(b);
    fs.writeFileSync(file, b);
    expect(codeOf(() => open())).toBe('STORAGE_IO');
  });

  it('refuses an entry whose lastOffset does not increase, as Kafka does', () => {
    const idx = open();
    idx.append(txn(1n, 100n, 105n, 106n));
    expect(() => idx.append(txn(2n, 101n, 105n, 106n))).toThrow(RangeError);
    expect(() => idx.append(txn(2n, 101n, 104n, 106n))).toThrow(RangeError);
    expect(idx.entries()).toHaveLength(1);
    expect(fs.statSync(file).size).toBe(34);
    idx.close();
  });

  it('truncateTo drops the entries whose marker is at or past the offset', () => {
    const idx = open();
    for (const t of [txn(1n, 100n, 105n, 106n), txn(2n, 101n, 108n, 109n), txn(3n, 102n, 112n, 113n)]) idx.append(t);
    idx.truncateTo(113n);
    expect(idx.entries()).toHaveLength(3);
    idx.truncateTo(112n);
    expect(idx.entries().map((t) => t.producerId)).toEqual([1n, 2n]);
    idx.truncateTo(106n);
    expect(idx.entries().map((t) => t.producerId)).toEqual([1n]);
    expect(fs.statSync(file).size).toBe(34);
    idx.append(txn(4n, 106n, 107n, 108n)); // the offset after the cut is free again
    idx.truncateTo(0n);
    expect(idx.entries()).toEqual([]);
    expect(idx.sizeInBytes).toBe(0);
    idx.close();
    expect(fs.statSync(file).size).toBe(0);
  });

  it('close and deleteFile', () => {
    const idx = open();
    idx.append(txn(1n, 100n, 105n, 106n));
    idx.close();
    idx.close(); // idempotent
    idx.flush(); // nothing to do once closed
    expect(codeOf(() => idx.append(txn(2n, 106n, 107n, 108n)))).toBe('CLOSED');
    expect(idx.entries()).toHaveLength(1); // still readable from memory
    idx.deleteFile();
    expect(fs.existsSync(file)).toBe(false);
    expect(idx.entries()).toEqual([]);
    const never = open();
    never.deleteFile(); // no file: nothing to remove
  });
});

describe('collectAbortedTxns', () => {
  //  offset 100 101 102 103 104 105 106 107 108 109 110 111 112
  //  pid 1   d           A                                         (1, 100..103, lso 101: pid 2 open)
  //  pid 2       d                   A                             (2, 101..106, lso 107)
  //  pid 3                               d       A                 (3, 107..109, lso 110)
  //  pid 4                                           d       A     (4, 110..112, lso 113)
  const entries = [txn(1n, 100n, 103n, 101n), txn(2n, 101n, 106n, 107n), txn(3n, 107n, 109n, 110n), txn(4n, 110n, 112n, 113n)];
  let idx: TransactionIndex;
  beforeEach(() => {
    idx = open();
    for (const t of entries) idx.append(t);
  });
  afterEach(() => idx.close());

  const ids = (r: { aborted: { producerId: bigint }[] }): bigint[] => r.aborted.map((t) => t.producerId);

  it.each([
    // fetch [from, to): overlapping = lastOffset >= from && firstOffset < to
    [100n, 101n, [1n], true], // entry 1's lso 101 >= 101: no transaction open at 100 can end later
    [100n, 102n, [1n, 2n], true],
    [100n, 114n, [1n, 2n, 3n, 4n], false], // every lso < 114: a later segment may hold more
    [104n, 107n, [2n], true], // entry 2's lso 107 >= 107: complete
    [104n, 108n, [2n, 3n], true], // entry 3's lso 110 >= 108
    [107n, 110n, [3n], true],
    [110n, 111n, [4n], true],
    [113n, 200n, [], false], // past every entry: later segments may hold more
    [0n, 100n, [], true], // before every entry: the first entry's lso 101 >= 100
    [103n, 104n, [1n, 2n], true],
  ])('fetch from %p below %p: %p, complete %p', (from, to, want, complete) => {
    const r = idx.collectAbortedTxns(from, to);
    expect(ids(r)).toEqual(want);
    expect(r.complete).toBe(complete);
  });

  it('returns the ranges without the LSO', () => {
    expect(idx.collectAbortedTxns(109n, 110n).aborted).toEqual([{ producerId: 3n, firstOffset: 107n, lastOffset: 109n }]);
  });

  it('matches a straightforward filter (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 95n, max: 120n }), fc.bigInt({ min: 95n, max: 120n }), (from, to) => {
        const r = idx.collectAbortedTxns(from, to);
        const stop = entries.findIndex((t) => t.lastStableOffset >= to);
        const scanned = stop < 0 ? entries : entries.slice(0, stop + 1);
        expect(r.aborted).toEqual(scanned.filter((t) => t.lastOffset >= from && t.firstOffset < to).map(({ producerId, firstOffset, lastOffset }) => ({ producerId, firstOffset, lastOffset })));
        expect(r.complete).toBe(stop >= 0);
      }),
    );
  });
});
