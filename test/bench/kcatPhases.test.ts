import { ConsumeVerifier } from '../../bench/kcatPhases';

function feed(v: ConsumeVerifier, text: string, splitEvery = 7): void {
  // Arbitrary chunk boundaries, as a pipe delivers them.
  for (let i = 0; i < text.length; i += splitEvery) v.push(Buffer.from(text.slice(i, i + splitEvery), 'latin1'));
  v.end();
}

const lines = (n: number, size: number, from = 0): string =>
  Array.from({ length: n }, (_, i) => `${from + i} ${size}\n`).join('');

describe('ConsumeVerifier', () => {
  it('accepts contiguous offsets from 0 with the expected payload size', () => {
    const v = new ConsumeVerifier(100);
    feed(v, lines(1000, 100));
    expect(v.count).toBe(1000);
    expect(v.firstError).toBeUndefined();
  });

  it('flags a log that does not start at offset 0', () => {
    const v = new ConsumeVerifier(100);
    feed(v, lines(5, 100, 3));
    expect(v.firstError).toBe('record #0 has offset "3", expected 0');
    expect(v.count).toBe(5);
  });

  it('flags a gap or a duplicate', () => {
    const gap = new ConsumeVerifier(10);
    feed(gap, '0 10\n1 10\n3 10\n');
    expect(gap.firstError).toBe('record #2 has offset "3", expected 2');
    const dup = new ConsumeVerifier(10);
    feed(dup, '0 10\n1 10\n1 10\n');
    expect(dup.firstError).toBe('record #2 has offset "1", expected 2');
  });

  it('flags a wrong payload size (including a null value, -1)', () => {
    const v = new ConsumeVerifier(100);
    feed(v, '0 100\n1 -1\n');
    expect(v.firstError).toBe('record at offset 1 has -1 payload bytes, expected 100');
  });

  it('flags garbage and a truncated last line without buffering them', () => {
    const junk = new ConsumeVerifier(1);
    junk.push(Buffer.alloc(5000, 0x41));
    expect(junk.firstError).toMatch(/unexpected output from kcat/);
    const cut = new ConsumeVerifier(1);
    feed(cut, '0 1\n1 1');
    expect(cut.firstError).toBe('truncated last line from kcat: "1 1"');
  });
});
