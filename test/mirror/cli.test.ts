/**
 * `strata mirror`'s command line, in-process: usage mistakes are caught before connecting
 * (exit 2, with the usage), and the translate-offsets table. The command against real brokers
 * is in test/integration/mirror.test.ts.
 */
import { formatTranslations } from '../../core/cli/mirror';
import { runCli } from '../cli/runCli';

const NOWHERE = '127.0.0.1:1';
const base = ['--source-bootstrap-server', NOWHERE, '--target-bootstrap-server', NOWHERE, '--source-alias', 'east'];

test.each([
  [['mirror', '--source-bootstrap-server', NOWHERE, '--target-bootstrap-server', NOWHERE, '--topic', 't'], 'missing required flag --source-alias'],
  [['mirror', '--target-bootstrap-server', NOWHERE, '--source-alias', 'east', '--topic', 't'], 'missing required flag --source-bootstrap-server'],
  [['mirror', ...base], 'missing required flag --topic'],
  [['mirror', ...base, '--topic', ','], '--topic needs at least one topic'],
  [['mirror', ...base, '--topic', 't', '--execute'], '--execute only goes with --translate-offsets'],
  [['mirror', ...base.slice(0, 4), '--source-alias', 'us.east', '--topic', 't'], "--source-alias: the source alias must be"],
  [['mirror', 'translate-offsets', ...base], 'missing required flag --group'],
  [['mirror', 'translate-offsets', ...base, '--group', 'g', '--topic', 't'], '--topic is for mirroring, not with --translate-offsets'],
  [['mirror', ...base, '--topic', 't', '--max-wait-ms', 'soon'], '--max-wait-ms must be an integer'],
])('usage error: %j', async (argv, message) => {
  const r = await runCli(argv);
  expect(r.stderr).toContain(message);
  expect(r.stderr).toContain('Usage: strata mirror [flags]');
  expect(r.code).toBe(2);
});

test('--help', async () => {
  const r = await runCli(['mirror', 'translate-offsets', '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('--translate-offsets');
});

test('the translate-offsets table', () => {
  expect(
    formatTranslations([
      { topic: 'orders', partition: 0, sourceOffset: 5n, targetTopic: 'east.orders', targetOffset: 7n, how: 'offset-syncs' },
      { topic: 'orders', partition: 1, sourceOffset: 90n, targetTopic: 'east.orders', targetOffset: 120n, how: 'offset-syncs', note: 'mirrored up to source offset 80 so far' },
      { topic: 'ledger', partition: 0, sourceOffset: 3n, targetTopic: 'ledger', targetOffset: 3n, how: 'same-offsets' },
      { topic: 'new', partition: 0, sourceOffset: 3n, targetTopic: 'east.new', targetOffset: null, how: 'not-mirrored', note: "target topic 'east.new' does not exist" },
    ]),
  ).toBe(
    [
      'TOPIC  PARTITION SOURCE-OFFSET TARGET-TOPIC TARGET-OFFSET NOTE',
      'orders 0         5             east.orders  7',
      'orders 1         90            east.orders  120           mirrored up to source offset 80 so far',
      'ledger 0         3             ledger       3             same offsets (offset-preserving mirror)',
      "new    0         3             east.new     -             target topic 'east.new' does not exist",
      '',
    ].join('\n'),
  );
});
