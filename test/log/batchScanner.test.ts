import * as fs from 'node:fs';
import * as path from 'node:path';
import { BatchScanner } from '../../core/log/batchScanner';
import { stampBatch } from '../../core/log/recordBatch';
import { batch, makeTmpDir, removeDir } from './helpers';

describe('BatchScanner', () => {
  let dir: string;
  let file: string;
  let fd = -1;
  beforeEach(() => {
    dir = makeTmpDir();
    file = path.join(dir, 'seg.log');
  });
  afterEach(() => {
    if (fd >= 0) fs.closeSync(fd);
    fd = -1;
    removeDir(dir);
  });

  /** Writes batches with offsets assigned from 0 and returns their sizes. */
  function writeLog(batches: Buffer[], extra: Buffer = Buffer.alloc(0)): number[] {
    let offset = 0n;
    for (const b of batches) {
      stampBatch(b, 0, offset, 1);
      offset += BigInt(b.readInt32BE(23)) + 1n;
    }
    fs.writeFileSync(file, Buffer.concat([...batches, extra]));
    fd = fs.openSync(file, 'r');
    return batches.map((b) => b.length);
  }

  function scanAll(s: BatchScanner): [number, bigint, bigint][] {
    const out: [number, bigint, bigint][] = [];
    while (s.next()) out.push([s.position, s.baseOffset, s.lastOffset]);
    return out;
  }

  it('walks batch headers, across chunk boundaries, to a clean end', () => {
    const sizes = writeLog([batch({ count: 2 }), batch({ count: 3, valueSize: 300 }), batch({ count: 1 }), batch({ count: 4 })]);
    const total = sizes.reduce((a, b) => a + b, 0);
    for (const chunkSize of [61, 100, 64 * 1024]) {
      for (const verifyCrc of [false, true]) {
        const s = new BatchScanner(fd, file, total, 0, { chunkSize, verifyCrc });
        expect(scanAll(s)).toEqual([
          [0, 0n, 1n],
          [sizes[0], 2n, 4n],
          [sizes[0] + sizes[1], 5n, 5n],
          [sizes[0] + sizes[1] + sizes[2], 6n, 9n],
        ]);
        expect(s.stop).toBe('end');
        expect(s.end).toBe(total);
      }
    }
  });

  it('starts from any batch boundary', () => {
    const sizes = writeLog([batch({ count: 2 }), batch({ count: 3 })]);
    const s = new BatchScanner(fd, file, sizes[0] + sizes[1], sizes[0]);
    expect(scanAll(s)).toEqual([[sizes[0], 2n, 4n]]);
  });

  it('reports a torn tail: a short header or a batch cut by the end of file', () => {
    const whole = batch({ count: 2 });
    const cut = batch({ count: 2 });
    const sizes = writeLog([whole, cut]);
    for (const keep of [10, 60, 61, sizes[1] - 1]) {
      const size = sizes[0] + keep;
      const s = new BatchScanner(fd, file, size, 0, { verifyCrc: true });
      expect(scanAll(s).length).toBe(1);
      expect(s.stop).toBe('torn');
      expect(s.end).toBe(sizes[0]);
    }
  });

  it('reports corrupt headers and, when asked, CRC mismatches', () => {
    const b = batch({ count: 2 });
    const sizes = writeLog([batch({ count: 1 }), b]);
    const total = sizes[0] + sizes[1];
    const bytes = fs.readFileSync(file);
    bytes[total - 3] ^= 0x40; // inside the second batch's records
    fs.writeFileSync(file, bytes);
    expect(scanAll(new BatchScanner(fd, file, total, 0)).length).toBe(2); // headers look fine
    const s = new BatchScanner(fd, file, total, 0, { verifyCrc: true, chunkSize: 61 });
    expect(scanAll(s).length).toBe(1);
    expect(s.stop).toBe('corrupt');
    expect(s.detail).toMatch(/CRC/);

    bytes.writeInt8(7, sizes[0] + 16); // magic
    fs.writeFileSync(file, bytes);
    const m = new BatchScanner(fd, file, total, 0);
    expect(scanAll(m).length).toBe(1);
    expect(m.stop).toBe('corrupt');
  });

  it('treats garbage as corrupt, never reading past the file', () => {
    writeLog([batch({ count: 1 })], Buffer.alloc(200, 0xee));
    const size = fs.statSync(file).size;
    const s = new BatchScanner(fd, file, size, 0, { verifyCrc: true });
    expect(scanAll(s).length).toBe(1);
    expect(['corrupt', 'torn']).toContain(s.stop);
  });
});
