import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isStrataError } from '../../core/common/errors';
import { embeddedMetadataDir, openMetadataStore } from '../../core/meta/url';

describe('openMetadataStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-meta-url-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('embedded: with no path lives in <dataDir>/meta', async () => {
    const store = await openMetadataStore('embedded:', { dataDir: dir });
    const id = await store.getOrCreateClusterId();
    await store.close();
    expect(fs.existsSync(path.join(dir, 'meta', 'metadata.sqlite'))).toBe(true);
    const again = await openMetadataStore('embedded:', { dataDir: dir });
    expect(await again.getOrCreateClusterId()).toBe(id);
    await again.close();
  });

  test('embedded:PATH is relative to the working directory; embedded://PATH is the same', () => {
    expect(embeddedMetadataDir('embedded:./x/meta', '/data')).toBe(path.resolve('x/meta'));
    expect(embeddedMetadataDir('embedded://x/meta', '/data')).toBe(path.resolve('x/meta'));
    expect(embeddedMetadataDir('embedded:/abs/meta', '/data')).toBe('/abs/meta');
    expect(embeddedMetadataDir('embedded:///abs/meta', '/data')).toBe('/abs/meta');
    expect(embeddedMetadataDir('embedded:', '/data')).toBe('/data/meta');
    expect(embeddedMetadataDir('dynamodb://x', '/data')).toBeNull();
  });

  test('an absolute embedded path opens there', async () => {
    const target = path.join(dir, 'elsewhere');
    const store = await openMetadataStore(`embedded:${target}`, { dataDir: '/nonexistent' });
    await store.close();
    expect(fs.existsSync(path.join(target, 'metadata.sqlite'))).toBe(true);
  });

  test('embedded: with a node.id holds <dir>/node-<id>.lock until closed; other node.ids share the store', async () => {
    const first = await openMetadataStore('embedded:', { dataDir: dir, nodeId: 5 });
    expect(fs.existsSync(path.join(dir, 'meta', 'node-5.lock'))).toBe(true);
    await expect(openMetadataStore('embedded:', { dataDir: dir, nodeId: 5 })).rejects.toMatchObject({ code: 'BROKER_ALREADY_REGISTERED' });
    const other = await openMetadataStore('embedded:', { dataDir: dir, nodeId: 6 });
    expect(await other.getOrCreateClusterId()).toBe(await first.getOrCreateClusterId());
    await first.close();
    expect(fs.existsSync(path.join(dir, 'meta', 'node-5.lock'))).toBe(false);
    await (await openMetadataStore('embedded:', { dataDir: dir, nodeId: 5 })).close();
    await other.close();
  });

  test('a malformed dynamodb:// URL and unknown schemes are CONFIG_INVALID', async () => {
    await expect(openMetadataStore('dynamodb://', { dataDir: dir })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    let err: unknown;
    try {
      await openMetadataStore('zookeeper://localhost:2181', { dataDir: dir });
    } catch (e) {
      err = e;
    }
    expect(isStrataError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain("'embedded:PATH'");
    expect((err as Error).message).toContain("'dynamodb://TABLE_PREFIX'");
  });
});
