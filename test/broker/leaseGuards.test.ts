import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StrataError } from '../../core/common/errors';
import { guardHandler, guardMetadataStore, guardObjectStore } from '../../core/broker/leaseGuards';
import type { ApiHandler, RequestContext } from '../../core/broker/handlers/types';
import { EmbeddedKv } from '../../core/meta/embeddedKv';
import { KvMetadataStore } from '../../core/meta/kvMetadataStore';
import { FileObjectStore } from '../../core/tier/fileObjectStore';
import { expectCode } from '../meta/versionedKv.contract';

/** The guards over real stores: reads always pass, writes only while the lease is held. */
let dir: string;
let held: boolean;
const check = (): void => {
  if (!held) throw new StrataError('BROKER_FENCED', 'lease lost (test)');
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-guards-'));
  held = true;
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('metadata store: writes (also in namespaces) refused once the lease is lost, reads still served', async () => {
  const raw = new KvMetadataStore(await EmbeddedKv.open(path.join(dir, 'meta')));
  const store = guardMetadataStore(raw, check);
  try {
    const t = await store.createTopic({ name: 't', partitions: 1, replicationFactor: 1, configs: {} });
    await store.namespace('offsets').put('g/t/0', 1n, null);
    held = false;
    await expectCode(store.createTopic({ name: 'u', partitions: 1, replicationFactor: 1, configs: {} }), 'BROKER_FENCED');
    await expectCode(store.updateTopic('t', t.version, { configs: { 'retention.ms': '1' } }), 'BROKER_FENCED');
    await expectCode(store.deleteTopic('t'), 'BROKER_FENCED');
    await expectCode(store.namespace('offsets').put('g/t/0', 2n, 1), 'BROKER_FENCED');
    await expectCode(store.namespace('offsets').delete('g/t/0'), 'BROKER_FENCED');
    await expectCode(store.putBroker({ nodeId: 1, host: 'h', port: 1, rack: null, epoch: 1 }, null), 'BROKER_FENCED');
    await expectCode(store.collectOrphans(), 'BROKER_FENCED');
    expect((await store.listTopics()).map((x) => x.name)).toEqual(['t']);
    expect((await store.getTopic('t'))!.configs).toEqual({});
    expect((await store.namespace('offsets').get('g/t/0'))!.value).toBe(1n);
  } finally {
    await store.close();
  }
});

test('object store: puts and deletes refused once the lease is lost, reads still served', async () => {
  const objects = guardObjectStore(await FileObjectStore.open(path.join(dir, 'tier')), check);
  try {
    await objects.put('a/b', Buffer.from('kept'));
    held = false;
    await expectCode(objects.put('a/c', Buffer.from('late')), 'BROKER_FENCED');
    await expectCode(objects.delete('a/b'), 'BROKER_FENCED');
    expect((await objects.get('a/b')).toString()).toBe('kept');
    expect(await objects.head('a/c')).toBeNull();
  } finally {
    await objects.close();
  }
});

test('handlers: not called once the lease is lost', () => {
  const calls: string[] = [];
  const handler: ApiHandler<string, string> = {
    apiKey: 0,
    minImplemented: 3,
    handle: (req) => {
      calls.push(req);
      return `ok ${req}`;
    },
    errorResponse: (_req, code) => `error ${code}`,
  };
  const guarded = guardHandler(handler, check);
  const ctx = {} as RequestContext;
  expect([guarded.apiKey, guarded.minImplemented]).toEqual([0, 3]);
  expect(guarded.handle('one', ctx)).toBe('ok one');
  held = false;
  expect(() => guarded.handle('two', ctx)).toThrow(expect.objectContaining({ code: 'BROKER_FENCED' }));
  expect(calls).toEqual(['one']);
  expect(guarded.errorResponse('x', 35, ctx)).toBe('error 35');
});
