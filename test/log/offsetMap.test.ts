import { OffsetMap } from '../../core/log/offsetMap';

const k = (s: string): Buffer => Buffer.from(s);

describe('OffsetMap', () => {
  it('keeps the latest offset put per key, relative to its base', () => {
    const m = new OffsetMap(64, 1_000n);
    m.put(k('a'), 0);
    m.put(k('b'), 1);
    m.put(k('a'), 5);
    expect(m.get(k('a'))).toBe(5);
    expect(m.get(k('b'))).toBe(1);
    expect(m.get(k('zz'))).toBe(-Infinity);
    expect(m.size).toBe(2);
    expect(m.latestOffset).toBe(5);
    m.updateLatest(9);
    m.updateLatest(3);
    expect(m.latestOffset).toBe(9);
  });

  it('tells keys apart by content, including empty and binary keys', () => {
    const m = new OffsetMap(1024, 0n);
    const keys = [Buffer.alloc(0), Buffer.from([0]), Buffer.from([0, 0]), Buffer.from([255]), k('key'), k('key ')];
    keys.forEach((key, i) => m.put(key, i));
    keys.forEach((key, i) => expect(m.get(Buffer.from(key))).toBe(i));
  });

  it('fills every slot under linear probing, then refuses a new key but still updates known ones', () => {
    const m = new OffsetMap(100, 0n);
    for (let i = 0; i < 100; i++) m.put(k(`key-${i}`), i);
    for (let i = 0; i < 100; i++) expect(m.get(k(`key-${i}`))).toBe(i);
    expect(m.get(k('absent'))).toBe(-Infinity);
    expect(() => m.put(k('one more'), 1)).toThrow(/full/);
    m.put(k('key-7'), 500);
    expect(m.get(k('key-7'))).toBe(500);
  });

  it('says whether an offset is exact in its relative form', () => {
    const m = new OffsetMap(1, 10n);
    expect(m.fits(10n + 2n ** 52n)).toBe(true);
    expect(m.fits(10n + 2n ** 60n)).toBe(false);
  });
});
