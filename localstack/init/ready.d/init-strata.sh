#!/bin/bash
# LocalStack "ready" hook: creates what `strata broker --metadata dynamodb://PREFIX
# --object-store s3://BUCKET/...` needs, the same resources `strata aws-init` creates:
#   - DynamoDB table PREFIX-metadata, on-demand, partition key pk (S), sort key sk (S)
#     (the design is documented in core/meta/dynamoTable.ts; keep this definition equal to it)
#   - S3 bucket BUCKET
# PREFIX and BUCKET come from STRATA_TABLE_PREFIX and STRATA_BUCKET (default: strata).
# Idempotent: LocalStack with PERSISTENCE=1 runs it again on every start.
set -euo pipefail

prefix="${STRATA_TABLE_PREFIX:-strata}"
bucket="${STRATA_BUCKET:-strata}"
table="${prefix}-metadata"

if awslocal dynamodb describe-table --table-name "$table" >/dev/null 2>&1; then
  echo "strata: DynamoDB table $table already exists"
else
  awslocal dynamodb create-table \
    --table-name "$table" \
    --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S \
    --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
    >/dev/null
  awslocal dynamodb wait table-exists --table-name "$table"
  echo "strata: created DynamoDB table $table"
fi

if awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
  echo "strata: S3 bucket $bucket already exists"
else
  awslocal s3api create-bucket --bucket "$bucket" >/dev/null
  echo "strata: created S3 bucket $bucket"
fi
