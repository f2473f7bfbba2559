import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { diskWrite, loopbackNode, loopbackPython } from '../../bench/limits';
import { MiB } from '../../bench/units';

describe('physical limits (small sizes)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-limits-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([true, false])('disk write (fsync=%s) measures and cleans up', (fsync) => {
    const t = diskWrite(dir, 8 * MiB + 123, MiB, fsync);
    expect(t.bytes).toBe(8 * MiB + 123);
    expect(t.seconds).toBeGreaterThan(0);
    expect(t.mbPerSec).toBeCloseTo(t.bytes / t.seconds / 1e6, 6);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('loopback node → node delivers every byte', async () => {
    const t = await loopbackNode(16 * MiB + 5, MiB);
    expect(t.bytes).toBe(16 * MiB + 5);
    expect(t.mbPerSec).toBeGreaterThan(0);
  });

  it('loopback python → python delivers every byte', async () => {
    const t = await loopbackPython('/usr/bin/python3', 16 * MiB + 5, MiB);
    expect(t.bytes).toBe(16 * MiB + 5);
    expect(t.mbPerSec).toBeGreaterThan(0);
  });

  it('fails clearly when the receiver cannot run', async () => {
    await expect(loopbackPython('/nonexistent/python3', MiB, MiB)).rejects.toThrow(/ENOENT/);
  });
});
