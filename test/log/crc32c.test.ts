import { crc32c } from '../../core/log/crc32c';

describe('crc32c', () => {
  it('matches the standard check value and the RFC 3720 (iSCSI) vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe(0x113fdb5c);
  });

  it('is 0 for no bytes and returns an unsigned 32-bit number', () => {
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    const v = crc32c(Buffer.from('\xff\xfe'));
    expect(v).toBeGreaterThanOrEqual(0);
    expect(v).toBeLessThanOrEqual(0xffffffff);
  });

  it('continues a running checksum across chunks', () => {
    const data = Buffer.from('The quick brown fox jumps over the lazy dog');
    for (const cut of [0, 1, 7, data.length - 1, data.length]) {
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(crc32c(data));
    }
  });
});
