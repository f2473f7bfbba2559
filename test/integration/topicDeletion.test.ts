/**
 * Deleting a topic removes its data whatever its name: with the longest legal name (249
 * characters), produced to by librdkafka (kcat) and deleted through kafkajs, every partition
 * directory disappears from the running broker's disk, nothing is left for a restarted broker
 * to find, and the name can be used again for a fresh, empty topic.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { StrataClient } from '../../core/client/client';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { kcatConsume, kcatProduce } from '../helpers/kcat';
import { waitFor } from '../helpers/waitFor';

let broker: BrokerProcess;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await stopAllBrokers();
});

/** Entries of the logs dir that belong to `topic` in any form (partition directories, deletions in progress, cut-short names). */
function leftovers(topic: string): string[] {
  const logs = path.join(broker.dataDir, 'logs');
  // A deletion's temporary name may cut the topic short: match on a long prefix of it.
  return fs.readdirSync(logs).filter((e) => e.startsWith(topic.slice(0, 200)));
}

test('a topic with a 249-character name is deleted completely, and stays deleted after a restart', async () => {
  const topic = `long-${'x'.repeat(240)}-end`;
  expect(topic).toHaveLength(249);
  const kafka = new Kafka({ clientId: 'long-delete', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    const values = Array.from({ length: 20 }, (_, i) => `value-${i}`);
    await kcatProduce(broker.bootstrap, topic, values, { partition: 0 });
    await kcatProduce(broker.bootstrap, topic, values, { partition: 1 });
    expect((await kcatConsume(broker.bootstrap, topic, { partition: 1 })).lines).toEqual(values);
    expect(leftovers(topic).sort()).toEqual([`${topic}-0`, `${topic}-1`]);

    await admin.deleteTopics({ topics: [topic] });
    await waitFor(() => leftovers(topic).length === 0, { timeoutMs: 10_000, message: `the data of ${topic} is removed` });
    expect(broker.output()).not.toMatch(/failed \(retried later\)/);
  } finally {
    await admin.disconnect();
  }

  broker = await broker.restart();
  expect(leftovers(topic)).toEqual([]);
  expect(broker.output()).not.toMatch(/ignoring .*no such topic partition/);

  // The name is free again, and the new topic starts empty.
  const client = new StrataClient({ bootstrapServers: [broker.bootstrap] });
  try {
    await client.createTopics([{ name: topic, numPartitions: 1, replicationFactor: 1 }]);
    expect((await client.listOffsets(topic, 0, -1n)).offset).toBe(0n);
  } finally {
    await client.close();
  }
});
