import { parseArgs, parseKeyValue, type CommandSpec } from './args';
import { loadBrokerConfig } from '../config/brokerConfig';
import { Broker } from '../broker/broker';
import { createLogger } from '../common/logger';

export const brokerSpec: CommandSpec = {
  name: 'broker',
  summary: 'Run a Strata broker (embedded metadata store and local segments by default).',
  flags: [
    { name: 'data-dir', kind: 'value', valueName: 'DIR', description: 'where segments and the embedded metadata live (log.dirs; default ./data)' },
    { name: 'listeners', kind: 'value', valueName: 'LIST', description: 'listeners, e.g. PLAINTEXT://127.0.0.1:9092 (port 0 = ephemeral)' },
    { name: 'advertised-listeners', kind: 'value', valueName: 'LIST', description: 'what clients are told to connect to (default: the bound listener)' },
    { name: 'node-id', kind: 'value', valueName: 'N', description: 'this broker\'s node.id (default 0)' },
    { name: 'metadata', kind: 'value', valueName: 'URL', description: 'metadata store: embedded:PATH (default embedded:<data-dir>/meta) or dynamodb://TABLE_PREFIX' },
    { name: 'object-store', kind: 'value', valueName: 'URL', description: 'object store for tiered segments: file://PATH (default file://<data-dir>/tier) or s3://BUCKET/PREFIX' },
    { name: 'metrics-listener', kind: 'value', valueName: 'URL', description: 'serve Prometheus metrics at URL/metrics, e.g. http://127.0.0.1:9644 (port 0 = ephemeral; default: off)' },
    { name: 'config', kind: 'value', valueName: 'FILE', description: 'a Kafka server.properties (KRaft or ZooKeeper mode); settings and controller listeners Strata has no use for are ignored with a warning' },
    { name: 'override', kind: 'repeatable', valueName: 'KEY=VALUE', description: 'set any broker config (Kafka names, e.g. num.partitions=3); repeatable' },
  ],
  examples: [
    'strata broker',
    'strata broker --data-dir /var/lib/strata --listeners PLAINTEXT://0.0.0.0:9092 --advertised-listeners PLAINTEXT://broker1:9092',
    'strata broker --override num.partitions=3 --override log.retention.hours=24',
    'strata broker --config config/kraft/server.properties --data-dir /var/lib/strata',
  ],
};

const FLAG_TO_CONFIG: Record<string, string> = {
  'data-dir': 'log.dirs',
  listeners: 'listeners',
  'advertised-listeners': 'advertised.listeners',
  'node-id': 'node.id',
  metadata: 'metadata',
  'object-store': 'object.store',
  'metrics-listener': 'metrics.listener',
};

/**
 * `strata broker …`: runs until SIGINT/SIGTERM (exit code 0), or until it loses its broker
 * lease to another process with the same node.id (it stops itself; exit code 1).
 */
export async function runBrokerCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, brokerSpec);
  const flags: Record<string, string> = {};
  for (const o of args.list('override')) {
    const [k, v] = parseKeyValue(o, '--override', brokerSpec);
    flags[k] = v;
  }
  for (const [flag, key] of Object.entries(FLAG_TO_CONFIG)) {
    const v = args.string(flag);
    if (v !== undefined) flags[key] = v;
  }
  const config = loadBrokerConfig({ flags, env: process.env, file: args.string('config') });
  const logger = createLogger('broker');
  // Signal handlers go in before the broker starts: a SIGTERM that arrives while it starts (or
  // right after it prints its listening line) must still shut it down cleanly.
  let signalled: string | null = null;
  let onSignal: (signal: string) => void = (signal) => {
    signalled = signal;
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  const broker = await Broker.start(config, logger);
  return new Promise<number>((resolve) => {
    // A broker that lost its lease (it logged `fenced: …`) stops itself; the exit code says so.
    let fenced = false;
    void broker.fenced.then(() => {
      fenced = true;
      broker.stop().then(
        () => {
          logger.error('stopped after losing the broker lease');
          resolve(1);
        },
        (e) => {
          logger.error(`shutdown failed: ${(e as Error).message}`);
          resolve(1);
        },
      );
    });
    onSignal = (signal) => {
      logger.info(`${signal} received, shutting down`);
      broker.stop().then(
        () => {
          logger.info('stopped');
          resolve(fenced ? 1 : 0);
        },
        (e) => {
          logger.error(`shutdown failed: ${(e as Error).message}`);
          resolve(1);
        },
      );
    };
    if (signalled !== null) onSignal(signalled);
  });
}
