import { formatUsage } from '../../core/cli/args';
import { consoleConsumerSpec } from '../../core/cli/console-consumer';
import { consoleProducerSpec } from '../../core/cli/console-producer';
import { topLevelUsage } from '../../core/cli/main';
import { topicsSpec } from '../../core/cli/topics';
import { runCli } from './runCli';

describe('strata (dispatch, help, usage errors)', () => {
  it('prints the command list for --help (exit 0) and without arguments (exit 2)', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(topLevelUsage());
    for (const c of ['broker', 'topics', 'console-producer', 'console-consumer']) expect(help.stdout).toContain(`  ${c}`);
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('Usage: strata <command> [flags]');
  });

  it.each([
    ['topics', topicsSpec],
    ['console-producer', consoleProducerSpec],
    ['console-consumer', consoleConsumerSpec],
  ] as const)('prints every flag of %s for --help', async (name, spec) => {
    const r = await runCli([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(formatUsage(spec));
    for (const f of spec.flags) expect(r.stdout).toContain(`--${f.name}`);
  });

  it('names an unknown command and suggests one', async () => {
    const r = await runCli(['topic', '--list']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("strata: unknown command 'topic'; did you mean 'topics'?");
    expect(r.stderr).toContain('Usage: strata <command> [flags]');
  });

  it('names an unknown flag, suggests one and prints the usage (exit 2)', async () => {
    const r = await runCli(['topics', '--bootstrap-server', '127.0.0.1:1', '--lst']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("strata topics: unknown flag --lst for 'topics'; did you mean --list?");
    expect(r.stderr).toContain(formatUsage(topicsSpec));
  });

  it('reports a missing required flag', async () => {
    const r = await runCli(['console-consumer', '--topic', 't']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('strata console-consumer: missing required flag --bootstrap-server (e.g. --bootstrap-server 127.0.0.1:9092)');
  });
});
