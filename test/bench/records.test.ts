import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeRecordFile } from '../../bench/records';

describe('writeRecordFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-records-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    [1, 100],
    [25_000, 100], // spans several 1 MiB batches
    [3000, 1024],
  ])('writes %i records of exactly %i bytes, one per line', (count, size) => {
    const file = path.join(dir, 'r.txt');
    const bytes = writeRecordFile(file, count, size);
    const data = fs.readFileSync(file);
    expect(bytes).toBe(count * (size + 1));
    expect(data.length).toBe(bytes);
    const lines = data.toString('latin1').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(count);
    for (const l of lines) expect(l).toMatch(new RegExp(`^[A-Za-z0-9+/]{${size}}$`));
    // Neighbouring records differ (nothing can shortcut identical payloads).
    if (count > 1) expect(lines[0]).not.toBe(lines[1]);
  });
});
