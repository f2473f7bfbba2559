import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { FileObjectStore } from '../../core/tier/fileObjectStore';
import { objectStoreContract } from './objectStore.contract';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tier-'));
}

objectStoreContract('FileObjectStore', async () => {
  const dir = tempDir();
  return {
    open: () => FileObjectStore.open(path.join(dir, 'tier')),
    destroy: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

describe('FileObjectStore specifics', () => {
  let dir: string;
  let root: string;
  let store: FileObjectStore;
  beforeEach(async () => {
    dir = tempDir();
    root = path.join(dir, 'tier');
    store = await FileObjectStore.open(root);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('keys map to readable paths under the root', async () => {
    await store.put('t/0/00000000000000000042.log', Buffer.from('seg'));
    expect(fs.readFileSync(path.join(root, 't', '0', '00000000000000000042.log'), 'utf8')).toBe('seg');
  });

  test('nothing is ever written outside the root', async () => {
    await expect(store.put('../escape', Buffer.from('x'))).rejects.toThrow(TypeError);
    await expect(store.put('a/../../escape', Buffer.from('x'))).rejects.toThrow(TypeError);
    expect(fs.readdirSync(dir)).toEqual(['tier']);
  });

  test('the temp folder is neither listed nor addressable as a key', async () => {
    fs.writeFileSync(path.join(root, '.strata-tmp', 'in-flight'), 'partial');
    await store.put('visible', Buffer.from('v'));
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    expect(keys).toEqual(['visible']);
    await expect(store.get('.strata-tmp/in-flight')).rejects.toThrow(TypeError);
  });

  test('a failed put leaves no temp file behind', async () => {
    await expect(store.put('k', Buffer.from('abc'), { contentLength: 9 })).rejects.toThrow(/contentLength/);
    expect(fs.readdirSync(path.join(root, '.strata-tmp'))).toEqual([]);
  });

  test('an object and keys below its name cannot coexist in a folder, and say so', async () => {
    await store.put('a', Buffer.from('file'));
    let err: unknown;
    try {
      await store.put('a/b', Buffer.from('x'));
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'STORAGE_IO')).toBe(true);
    expect((err as Error).message).toMatch(/cannot hold an object and other keys below/);
    await store.put('d/e', Buffer.from('x'));
    await expect(store.put('d', Buffer.from('y'))).rejects.toThrow(/cannot hold an object/);
    expect(await store.head('d')).toBeNull(); // a folder is not an object
  });

  test('deleting the last object of a folder removes the empty folders', async () => {
    await store.put('x/y/z', Buffer.from('1'));
    await store.put('x/keep', Buffer.from('2'));
    await store.delete('x/y/z');
    expect(fs.existsSync(path.join(root, 'x', 'y'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'x', 'keep'))).toBe(true);
    await store.delete('x/keep');
    expect(fs.readdirSync(root)).toEqual(['.strata-tmp']);
  });

  test('puts racing with deletes in the same folder all land', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `race/${i}`);
    await Promise.all(keys.map(async (k, i) => {
      await store.put(k, Buffer.from(String(i)));
      if (i % 2 === 0) await store.delete(k);
    }));
    const left: string[] = [];
    for await (const o of store.list('race/')) left.push(o.key);
    expect(left.sort()).toEqual(keys.filter((_, i) => i % 2 === 1).sort());
  });

  test('temp files left by a crash long ago are cleaned up on open', async () => {
    const old = path.join(root, '.strata-tmp', 'old');
    const fresh = path.join(root, '.strata-tmp', 'fresh');
    fs.writeFileSync(old, 'x');
    fs.writeFileSync(fresh, 'y');
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    fs.utimesSync(old, twoDaysAgo, twoDaysAgo);
    const again = await FileObjectStore.open(root);
    await again.close();
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true); // may belong to another process's put in flight
  });
});
