import { Validations, type Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { acknowledgeExpectedWildcards } from '../../infra/lib/nag';
import { allStacks, synthStrata } from './synth';

/**
 * cdk-nag's AwsSolutions pack on every stack of the app: no finding may stand unacknowledged
 * (errors and warnings alike), every acknowledgement carries a reason, and none is stale (each
 * one answers a finding the pack still reports).
 */

interface Finding {
  rule: string;
  severity: string;
  path: string;
}

function findings(stack: Stack, honourAcknowledgements: boolean): Finding[] {
  const pack = new AwsSolutionsChecks();
  if (!honourAcknowledgements) {
    // The pack's private check: report everything, to see what each acknowledgement answers.
    (pack as unknown as { isAcknowledged: () => boolean }).isAcknowledged = () => false;
  }
  const report = pack.validateScope(stack);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => ({ rule: v.ruleName, severity: v.severity ?? 'error', path: r.constructPath ?? '?' })));
}

/** Every AwsSolutions acknowledgement in the tree: construct path, rule id, reason. */
function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ path: c.node.path, id: id.replace(/^annotation::/i, ''), reason }))),
  );
}

describe('cdk-nag AwsSolutions', () => {
  // The image as npm run synth has it (the repository's Dockerfile): its pull grants are checked too.
  const { app, stacks } = synthStrata({ dockerAsset: true });
  // Cross-stack references are resolved at synthesis; the wildcard findings on them are named then.
  app.synth();
  const acknowledgedWildcards = acknowledgeExpectedWildcards(app);
  const every = allStacks(stacks);

  test('the app has the five stacks', () => {
    expect(every.map((s) => s.stackName)).toEqual(['Strata-Primary-Stateful', 'Strata-Primary-Brokers', 'Strata-Mirror-Stateful', 'Strata-Mirror-Brokers', 'Strata-Mirror-Function']);
  });

  test.each(['Strata-Primary-Stateful', 'Strata-Primary-Brokers', 'Strata-Mirror-Stateful', 'Strata-Mirror-Brokers', 'Strata-Mirror-Function'])('%s: no unacknowledged finding', (name) => {
    const stack = every.find((s) => s.stackName === name)!;
    expect(findings(stack, true)).toEqual([]);
  });

  test('every acknowledgement has a reason and answers a finding the pack reports', () => {
    const reported = new Set(every.flatMap((s) => findings(s, false)).map((f) => `${f.path}|${f.rule}`));
    const acks = acknowledgements(app).filter((a) => a.id.startsWith('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(10);
    for (const a of acks) {
      expect(a.reason.length).toBeGreaterThan(40);
      // An acknowledgement on a construct covers the findings of the resources under it.
      const answered = [...reported].some((r) => {
        const [path, rule] = r.split('|');
        return rule === a.id && (path === a.path || path.startsWith(`${a.path}/`));
      });
      if (!answered) throw new Error(`stale acknowledgement ${a.id} on ${a.path}: the pack reports no such finding there`);
    }
    // The two brokers' roles (one per region), each with its bucket's key-prefix objects.
    expect(acknowledgedWildcards).toBe(2);
  });

  test('the findings acknowledged, by rule (a change here is a change in what the stacks accept)', () => {
    const rules = new Set(acknowledgements(app).map((a) => a.id.replace(/\[.*$/, '')).filter((id) => id.startsWith('AwsSolutions-')));
    expect([...rules].sort()).toEqual(['AwsSolutions-ECS2', 'AwsSolutions-ELB2', 'AwsSolutions-IAM4', 'AwsSolutions-IAM5', 'AwsSolutions-L1', 'AwsSolutions-S1', 'AwsSolutions-SMG4']);
  });
});
