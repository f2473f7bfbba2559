import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ATTR, metadataTableName } from '../../../core/meta/dynamoTable';

export interface MetadataTableProps {
  /** The prefix of the broker's `dynamodb://PREFIX` URL; the table is PREFIX-metadata. */
  readonly tablePrefix: string;
}

/**
 * The metadata table behind `dynamodb://PREFIX`, exactly as core/meta/dynamoTable.ts designs it:
 * partition key `pk` (S), sort key `sk` (S), on demand, no secondary index, no stream.
 *
 * Named, not CDK-generated: the broker finds its table by name (`dynamodb://PREFIX` means table
 * PREFIX-metadata), so the name is part of the broker's configuration. The cost is CloudFormation's
 * rule for named resources: a change that replaces the table fails instead of creating a second
 * one, which is what a stateful table wants anyway.
 *
 * No TTL: no item expires by time. Committed offsets of empty groups, idle transactional ids and
 * orphaned partition states are deleted by the brokers themselves (offsets.retention.minutes,
 * transactional.id.expiration.ms, the orphan collector), with conditional writes that TTL's late,
 * unconditional deletes would race; broker leases are judged by heartbeats, never by a stored
 * expiry. Point-in-time recovery on, deletion protection on, RETAIN.
 */
export class MetadataTable extends Construct {
  readonly table: dynamodb.Table;
  readonly tablePrefix: string;

  constructor(scope: Construct, id: string, props: MetadataTableProps) {
    super(scope, id);
    this.tablePrefix = props.tablePrefix;
    this.table = new dynamodb.Table(this, 'Table', {
      tableName: metadataTableName(props.tablePrefix),
      partitionKey: { name: ATTR.pk, type: dynamodb.AttributeType.STRING },
      sortKey: { name: ATTR.sk, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** The broker's --metadata URL. */
  get metadataUrl(): string {
    return `dynamodb://${this.tablePrefix}`;
  }

  /** What a broker needs: DescribeTable at start, then GetItem, PutItem, DeleteItem, Query, Scan on this table only. */
  grantBroker(grantee: iam.IGrantable): iam.Grant {
    return grantMetadata(this.table, grantee);
  }
}

/** The broker's grant on a metadata table from another stack. */
export function grantMetadata(table: dynamodb.ITable, grantee: iam.IGrantable): iam.Grant {
  return table.grantReadWriteData(grantee);
}
