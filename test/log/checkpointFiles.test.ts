import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLogStartOffset, takeCleanShutdownMarker, writeCleanShutdownMarker, writeLogStartOffset } from '../../core/log/checkpointFiles';
import { makeTmpDir, removeDir } from './helpers';

describe('partition checkpoint files', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => removeDir(dir));

  it('writes and reads the log start offset', () => {
    expect(readLogStartOffset(dir)).toBeNull();
    writeLogStartOffset(dir, 12345678901234n);
    expect(fs.readFileSync(path.join(dir, 'log-start-offset'), 'utf8')).toBe('12345678901234\n');
    expect(readLogStartOffset(dir)).toBe(12345678901234n);
    expect(fs.readdirSync(dir)).toEqual(['log-start-offset']); // no temp file left behind
  });

  it('ignores unreadable contents', () => {
    for (const text of ['', 'abc', '-5\n', '1 2', '99999999999999999999\n', '12\n\n']) {
      fs.writeFileSync(path.join(dir, 'log-start-offset'), text);
      expect(readLogStartOffset(dir)).toBeNull();
    }
  });

  it('takes the clean-shutdown marker exactly once', () => {
    expect(takeCleanShutdownMarker(dir)).toBe(false);
    writeCleanShutdownMarker(dir);
    expect(takeCleanShutdownMarker(dir)).toBe(true);
    expect(takeCleanShutdownMarker(dir)).toBe(false);
  });
});
