// One kafkajs consumer-group member as a process of its own (a kafkajs member whose brokers all
// went away can spin its fetch loop on microtasks and would block the jest worker that ran it).
// Usage: node kafkajsGroupMember.cjs BOOTSTRAP GROUP TOPIC
// stdout: one line per consumed record value; stderr: "crash <error>" when kafkajs crashes the
// member (it then restarts it), and "joined <generation>" after each join.
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const [bootstrap, groupId, topic] = process.argv.slice(2);
const kafka = new Kafka({ clientId: 'group-member', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
// A member whose coordinator died retries it (kafkajs does not look the coordinator up again
// within one run): each retry waits for the fetches in flight (maxWaitTimeInMs), then the member
// crashes, restarts and finds the new coordinator. A few short retries keep that to seconds.
const consumer = kafka.consumer({
  groupId,
  sessionTimeout: 10000,
  heartbeatInterval: 500,
  rebalanceTimeout: 10000,
  maxWaitTimeInMs: 1000,
  retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 },
});
consumer.on(consumer.events.CRASH, (e) => process.stderr.write(`crash ${String(e.payload.error).replace(/\n/g, ' ')}\n`));
consumer.on(consumer.events.GROUP_JOIN, (e) => process.stderr.write(`joined ${e.payload.groupId} generation ${e.payload.generationId ?? ''}\n`));
process.on('SIGTERM', () => consumer.disconnect().finally(() => process.exit(0)));

(async () => {
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ autoCommitInterval: 200, eachMessage: async ({ message }) => void process.stdout.write(`${message.value.toString()}\n`) });
})().catch((e) => {
  process.stderr.write(`failed ${e.stack}\n`);
  process.exit(1);
});
