import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { commonClientOptions, configuredEndpoint, resolveAwsSettings, s3ClientExtras } from '../../core/common/awsConfig';
import { isStrataError } from '../../core/common/errors';
import { useEnv } from '../helpers/emulators';

/**
 * The shared AWS settings (core/common/awsConfig.ts) as the S3 and DynamoDB adapters see
 * them: region and endpoint resolution, and the claim that SDK 3.940 reads the
 * AWS_ENDPOINT_URL_* variables itself.
 */
const failingProbe = (): Promise<string> => Promise.reject(new Error('Region is missing'));
const CLEAN = {
  AWS_REGION: undefined,
  AWS_DEFAULT_REGION: undefined,
  AWS_PROFILE: undefined,
  AWS_ENDPOINT_URL: undefined,
  AWS_ENDPOINT_URL_S3: undefined,
  AWS_ENDPOINT_URL_DYNAMODB: undefined,
  AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: undefined,
  AWS_MAX_ATTEMPTS: undefined,
  AWS_RETRY_MODE: undefined,
};

describe('region', () => {
  test('AWS_REGION, then AWS_DEFAULT_REGION (which the JS SDK alone would ignore), then the SDK chain', async () => {
    expect(await resolveAwsSettings('s3', failingProbe, { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2' })).toMatchObject({
      region: 'eu-west-1',
      regionSource: 'AWS_REGION',
    });
    expect(await resolveAwsSettings('s3', failingProbe, { AWS_DEFAULT_REGION: 'us-west-2' })).toMatchObject({ region: 'us-west-2', regionSource: 'AWS_DEFAULT_REGION' });
    expect(await resolveAwsSettings('dynamodb', async () => 'ap-south-1', { AWS_PROFILE: 'prod' })).toMatchObject({ region: 'ap-south-1', regionSource: 'profile prod' });
  });

  test('us-east-1 only when an endpoint override is set and nothing names a region', async () => {
    expect(await resolveAwsSettings('s3', failingProbe, { AWS_ENDPOINT_URL: 'http://localhost:4566' })).toMatchObject({
      region: 'us-east-1',
      regionSource: 'default for an endpoint override (AWS_ENDPOINT_URL)',
      endpoint: 'http://localhost:4566',
    });
    let err: unknown;
    await resolveAwsSettings('dynamodb', failingProbe, {}).catch((e: unknown) => (err = e));
    expect(isStrataError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toContain('no AWS region is configured for DynamoDB: set AWS_REGION');
  });
});

describe('endpoint', () => {
  test('the service-specific variable wins over AWS_ENDPOINT_URL, and both can be switched off', () => {
    const env = { AWS_ENDPOINT_URL: 'http://localhost:4566', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' };
    expect(configuredEndpoint('s3', env)).toEqual({ url: 'http://127.0.0.1:9000', source: 'AWS_ENDPOINT_URL_S3' });
    expect(configuredEndpoint('dynamodb', env)).toEqual({ url: 'http://localhost:4566', source: 'AWS_ENDPOINT_URL' });
    expect(configuredEndpoint('s3', { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' })).toBeUndefined();
    expect(configuredEndpoint('s3', {})).toBeUndefined();
    expect(() => configuredEndpoint('s3', { AWS_ENDPOINT_URL_S3: 'localhost:4566' })).toThrow(/not an http\(s\) URL/);
  });

  test('an override means path-style S3 and checksums only where required; real AWS keeps the defaults', () => {
    const emulator = { service: 's3' as const, region: 'us-east-1', regionSource: 'x', endpoint: 'http://localhost:4566' };
    expect(s3ClientExtras(emulator, {})).toEqual({
      forcePathStyle: true,
      followRegionRedirects: false,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    expect(s3ClientExtras({ service: 's3', region: 'eu-west-1', regionSource: 'x' }, {})).toEqual({ forcePathStyle: false, followRegionRedirects: false });
  });

  test('retries: standard mode with our attempts, unless AWS_MAX_ATTEMPTS / AWS_RETRY_MODE are set', () => {
    const s = { service: 'dynamodb' as const, region: 'eu-west-1', regionSource: 'x' };
    expect(commonClientOptions(s, {})).toMatchObject({ region: 'eu-west-1', maxAttempts: 8, retryMode: 'standard' });
    const own = commonClientOptions(s, { AWS_MAX_ATTEMPTS: '3', AWS_RETRY_MODE: 'adaptive' });
    expect(own).not.toHaveProperty('maxAttempts');
    expect(own).not.toHaveProperty('retryMode');
    expect(commonClientOptions({ ...s, service: 's3' }, {}).maxAttempts).toBe(5);
  });
});

describe('SDK 3.940 reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB itself', () => {
  let server: http.Server;
  let url: string;
  const hits: string[] = [];
  let restore: () => void;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(`${req.method} ${req.url!.split('?')[0]} ${req.headers['x-amz-target'] ?? ''}`.trim());
      req.resume();
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(req.method === 'HEAD' ? undefined : '{"Table":{"TableName":"t"}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    restore = useEnv({ ...CLEAN, AWS_ENDPOINT_URL_S3: url, AWS_ENDPOINT_URL_DYNAMODB: url, AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' });
  });
  afterAll(async () => {
    restore();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('clients built with no endpoint option send to the variables\' endpoints', async () => {
    const s3 = new S3Client({ region: 'us-east-1', forcePathStyle: true });
    const ddb = new DynamoDBClient({ region: 'us-east-1' });
    try {
      await s3.send(new HeadBucketCommand({ Bucket: 'probe-bucket' }));
      await ddb.send(new DescribeTableCommand({ TableName: 'probe-table' }));
    } finally {
      s3.destroy();
      ddb.destroy();
    }
    expect(hits).toEqual(['HEAD /probe-bucket/', 'POST / DynamoDB_20120810.DescribeTable']);
  });
});
