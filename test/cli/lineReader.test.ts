import { Readable } from 'node:stream';
import { isStrataError } from '../../core/common/errors';
import { lineBatches } from '../../core/cli/lineReader';

async function lines(chunks: Array<string | Buffer>, max = 1024): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of lineBatches(Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))), max)) {
    out.push(...batch.map((b) => b.toString()));
  }
  return out;
}

describe('lineBatches', () => {
  it('splits on newlines across chunk boundaries', async () => {
    expect(await lines(['a\nb', 'c\n', 'd', '', 'e\nf'])).toEqual(['a', 'bc', 'de', 'f']);
  });

  it('drops the \\r of CRLF endings and keeps empty lines as empty records', async () => {
    expect(await lines(['x\r\n\r\ny\n\n'])).toEqual(['x', '', 'y', '']);
  });

  it('does not invent a line after a final newline', async () => {
    expect(await lines(['a\n'])).toEqual(['a']);
    expect(await lines([])).toEqual([]);
  });

  it('passes bytes through untouched (no decoding)', async () => {
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0xc3, 0x28]);
    const out: Buffer[] = [];
    for await (const b of lineBatches(Readable.from([raw]), 10)) out.push(...b);
    expect(out).toEqual([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from([0xc3, 0x28])]);
  });

  it('returns copies, not views into a reused input buffer', async () => {
    const chunk = Buffer.from('abc\ndef\n');
    const out: Buffer[] = [];
    for await (const b of lineBatches(Readable.from([chunk]), 10)) out.push(...b);
    chunk.fill(0);
    expect(out.map(String)).toEqual(['abc', 'def']);
  });

  it('fails on a line longer than the limit, even when it spans many chunks', async () => {
    await expect(lines(['12345678901\n'], 10)).rejects.toThrow('an input line is longer than 10 bytes');
    const err = await lines(['123456', '789', '01', '\n'], 10).catch((e: unknown) => e);
    expect(isStrataError(err, 'BATCH_TOO_LARGE')).toBe(true);
    expect(await lines(['1234567890\n'], 10)).toEqual(['1234567890']);
  });
});
