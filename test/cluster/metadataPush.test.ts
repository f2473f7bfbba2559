/**
 * The push half of metadata propagation (core/cluster/metadataPush.ts), over real sockets: a
 * listener with the broker's dispatcher and UpdateMetadata handler stands for a peer broker, and
 * each request it gets asks its cluster part for a pass now. Pushes asked for while one is in
 * flight fold into one more; a peer that is down costs nothing and is reached again once it is
 * back; this broker never pushes to itself.
 */
import { createLogger } from '../../core/common/logger';
import { Dispatcher } from '../../core/broker/dispatcher';
import { apiVersionsHandler } from '../../core/broker/handlers/apiVersions';
import type { BrokerContext } from '../../core/broker/handlers/types';
import { updateMetadataHandler } from '../../core/broker/handlers/updateMetadata';
import { KafkaServer } from '../../core/broker/server';
import { MetadataPush } from '../../core/cluster/metadataPush';
import type { BrokerRecord } from '../../core/meta/metadataStore';

const logger = createLogger('test', () => undefined);

interface Peer {
  server: KafkaServer;
  port: number;
  refreshes: number;
}

async function startPeer(port = 0): Promise<Peer> {
  const peer = { refreshes: 0 } as Peer;
  const context = { logger, cluster: { refreshNow: () => peer.refreshes++ } } as unknown as BrokerContext;
  let dispatcher: Dispatcher;
  const versions = apiVersionsHandler(() => dispatcher.supportedApis());
  dispatcher = new Dispatcher(context, [versions, updateMetadataHandler]);
  peer.server = new KafkaServer({ host: '127.0.0.1', port, maxRequestBytes: 1 << 20, idleTimeoutMs: 60_000, logger }, dispatcher);
  peer.port = (await peer.server.listen()).port;
  return peer;
}

const record = (nodeId: number, port: number): BrokerRecord => ({ nodeId, host: '127.0.0.1', port, rack: null, epoch: 1, incarnationId: 'i', version: 1 });

let push: MetadataPush;
const peers: Peer[] = [];

afterEach(async () => {
  push?.close();
  await Promise.all(peers.splice(0).map((p) => p.server.close()));
});

test('every other live broker is asked to poll now; pushes during one in flight fold into one more', async () => {
  const a = await startPeer();
  const b = await startPeer();
  peers.push(a, b);
  push = new MetadataPush({ nodeId: 0, logger });
  const brokers = [record(0, 1), record(1, a.port), record(2, b.port)];
  push.notify(brokers, 0, 5);
  push.notify(brokers, 0, 5);
  push.notify(brokers, 0, 5);
  await push.idle();
  // The first push to each, then one for the two asked for while it was in flight.
  expect([a.refreshes, b.refreshes]).toEqual([2, 2]);
  push.notify(brokers, 0, 5);
  await push.idle();
  expect([a.refreshes, b.refreshes]).toEqual([3, 3]);
});

test('a broker that is down is skipped without an error and reached again once it is back', async () => {
  const a = await startPeer();
  const port = a.port;
  await a.server.close();
  push = new MetadataPush({ nodeId: 0, logger, timeoutMs: 1000 });
  push.notify([record(1, port)], 0, 5);
  await push.idle(); // connection refused: nothing thrown, nothing waits
  const back = await startPeer(port);
  peers.push(back);
  push.notify([record(1, port)], 0, 5);
  await push.idle();
  expect(back.refreshes).toBe(1);
});
