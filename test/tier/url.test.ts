import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileObjectStoreDir, openObjectStore } from '../../core/tier/url';

describe('openObjectStore', () => {
  test('file: and file:// default to <dataDir>/tier; paths may be relative or absolute', () => {
    expect(fileObjectStoreDir('file:', '/data')).toBe('/data/tier');
    expect(fileObjectStoreDir('file://', '/data')).toBe('/data/tier');
    expect(fileObjectStoreDir('file://./t', '/data')).toBe(path.resolve('t'));
    expect(fileObjectStoreDir('file://t/x', '/data')).toBe(path.resolve('t/x'));
    expect(fileObjectStoreDir('file:///abs/t', '/data')).toBe('/abs/t');
    expect(fileObjectStoreDir('file:rel', '/data')).toBe(path.resolve('rel'));
    expect(fileObjectStoreDir('s3://b/p', '/data')).toBeNull();
  });

  test('opens a working file store under the data dir', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tier-url-'));
    try {
      const store = await openObjectStore('file:', { dataDir: dir });
      await store.put('k', Buffer.from('v'));
      await store.close();
      expect(fs.readFileSync(path.join(dir, 'tier', 'k'), 'utf8')).toBe('v');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a malformed s3:// URL is CONFIG_INVALID; other schemes list the accepted forms', async () => {
    await expect(openObjectStore('s3://', { dataDir: '/tmp' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(openObjectStore('gs://bucket', { dataDir: '/tmp' })).rejects.toThrow(/accepted forms: 'file:'.*'s3:\/\/BUCKET\/PREFIX'/);
  });
});
