import { Stack, Validations, type IPolicyValidationContext, type IPolicyValidationPlugin, type PolicyValidationPluginReport } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
// cdk-nag's own flattening, so the finding names built here are the ones its IAM5 rule reports
// (an internal module of the exactly pinned cdk-nag; test/infra/nag.test.ts notices a change).
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

const EXPECTED_WILDCARDS = 'strata:expected-wildcard-resources';

interface ExpectedWildcard {
  suffix: string;
  reason: string;
}

/**
 * Declares that the IAM policies under `scope` grant on resources whose ARN ends in `suffix` (the
 * objects under a key prefix: `<bucket ARN>/strata/*`), for `reason`.
 *
 * Why not `Validations.of(policy).acknowledge(...)` directly: cdk-nag 3 acknowledges a finding by
 * its exact name, and AwsSolutions-IAM5 names a resource finding after the resource's resolved
 * CloudFormation. For a bucket from another stack that is the cross-stack reference CDK writes at
 * synthesis ({"Fn::GetStackOutput": …}/strata/*), unknown while the constructs are built.
 * acknowledgeExpectedWildcards names them once the app is synthesized.
 */
export function expectWildcardResources(scope: IConstruct, suffix: string, reason: string): void {
  if (!suffix.endsWith('*')) throw new Error(`expectWildcardResources: '${suffix}' is not a wildcard`);
  scope.node.addMetadata(EXPECTED_WILDCARDS, { suffix, reason } satisfies ExpectedWildcard);
}

/** Acknowledges the AwsSolutions-IAM5 resource findings declared with expectWildcardResources, by their names as synthesized. */
export function acknowledgeExpectedWildcards(root: IConstruct): number {
  let acknowledged = 0;
  for (const scope of root.node.findAll()) {
    const expected = scope.node.metadata.filter((m) => m.type === EXPECTED_WILDCARDS).map((m) => m.data as ExpectedWildcard);
    if (expected.length === 0) continue;
    for (const policy of scope.node.findAll()) {
      if (!(policy instanceof iam.CfnPolicy)) continue;
      const document = Stack.of(policy).resolve(policy.policyDocument) as { Statement?: Array<{ Resource?: unknown }> };
      for (const statement of document.Statement ?? []) {
        const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
        for (const resource of resources) {
          const name = flattenCfnReference(resource);
          const match = expected.find((e) => name.endsWith(e.suffix));
          if (match === undefined) continue;
          Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${name}]`, reason: match.reason });
          acknowledged++;
        }
      }
    }
  }
  return acknowledged;
}

/** A validation plugin that runs acknowledgeExpectedWildcards; registered before the AwsSolutions pack. */
export class ExpectedWildcardsPlugin implements IPolicyValidationPlugin {
  readonly name = 'StrataExpectedWildcards';

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const root = (context as IPolicyValidationContext & { appConstruct?: IConstruct }).appConstruct;
    if (root === undefined) throw new Error('StrataExpectedWildcards needs the construct tree on the validation context');
    acknowledgeExpectedWildcards(root);
    return { success: true, violations: [] };
  }
}

/** cdk-nag's AwsSolutions pack on the whole app; a finding that is neither fixed nor acknowledged with a reason fails the synthesis. */
export function addNagChecks(app: IConstruct): void {
  Validations.of(app).addPlugins(new ExpectedWildcardsPlugin(), new AwsSolutionsChecks(app, { verbose: true }));
}
