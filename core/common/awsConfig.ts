import { StrataError } from './errors';

/**
 * The AWS client settings shared by the DynamoDB and S3 adapters. Strata adds nothing of its
 * own to how the AWS SDK is configured: credentials always come from the SDK's default
 * provider chain (environment, shared config/credentials files and AWS_PROFILE, SSO, web
 * identity, ECS/EC2 roles), never from Strata configs. What this module decides, and why:
 *
 * - Region: AWS_REGION, then AWS_DEFAULT_REGION (read here: the JavaScript SDK ignores it,
 *   while the AWS CLI and boto3 honour it, so an operator's shell setup works unchanged),
 *   then the SDK's own chain (the profile's `region`, then EC2 instance metadata). Only when
 *   an endpoint override is set (an emulator) and none of those names a region does it
 *   default to us-east-1, as LocalStack does; against real AWS a missing region is an error.
 * - Endpoint: AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL
 *   (ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true). The SDK 3.940 reads exactly these
 *   itself; they are read here as well because an override changes other choices: S3 then
 *   uses path-style addressing (emulators have no per-bucket DNS names) and computes request
 *   checksums only where an API requires them (emulators do not speak the aws-chunked
 *   trailer encoding). An `endpoint_url` set only in a profile file is left to the SDK.
 * - Retries: the SDK's standard mode (exponential backoff with jitter, a retry token
 *   bucket), which retries throttling (ProvisionedThroughputExceeded, ThrottlingException,
 *   RequestLimitExceeded, SlowDown), 5xx and connection failures. maxAttempts is 8 for
 *   DynamoDB (metadata writes should ride out a throttling burst) and 5 for S3; both yield to
 *   AWS_MAX_ATTEMPTS / AWS_RETRY_MODE when those are set.
 * - Timeouts: a connect timeout, so an unreachable endpoint fails in seconds rather than
 *   after the OS's TCP timeout, and a socket idle timeout per request.
 */
export type AwsService = 'dynamodb' | 's3';

export interface AwsSettings {
  service: AwsService;
  region: string;
  /** Where the region came from, for startup logs and error messages. */
  regionSource: string;
  /** The endpoint override, if any. */
  endpoint?: string;
  endpointSource?: string;
}

const SERVICE_ENV: Record<AwsService, string> = {
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  s3: 'AWS_ENDPOINT_URL_S3',
};

const SERVICE_NAME: Record<AwsService, string> = { dynamodb: 'DynamoDB', s3: 'S3' };

/** The region an emulator is assumed to be in when nothing names one (LocalStack's default). */
export const EMULATOR_DEFAULT_REGION = 'us-east-1';

/** The endpoint override for `service`, as the SDK would pick it from the environment. */
export function configuredEndpoint(service: AwsService, env: NodeJS.ProcessEnv = process.env): { url: string; source: string } | undefined {
  if ((env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').toLowerCase() === 'true') return undefined;
  for (const name of [SERVICE_ENV[service], 'AWS_ENDPOINT_URL']) {
    const url = env[name]?.trim();
    if (url) {
      if (!/^https?:\/\/[^/\s]+/i.test(url)) {
        throw new StrataError('CONFIG_INVALID', `${name}='${url}' is not an http(s) URL (e.g. http://localhost:4566)`);
      }
      return { url, source: name };
    }
  }
  return undefined;
}

/**
 * Resolves region and endpoint for one service. `sdkRegion` asks the SDK's own chain (profile
 * file, instance metadata); the adapters pass `() => new XClient({}).config.region()`, which
 * keeps this module free of SDK imports.
 */
export async function resolveAwsSettings(service: AwsService, sdkRegion: () => Promise<string>, env: NodeJS.ProcessEnv = process.env): Promise<AwsSettings> {
  const endpoint = configuredEndpoint(service, env);
  const base = { service, ...(endpoint ? { endpoint: endpoint.url, endpointSource: endpoint.source } : {}) };
  for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION']) {
    const region = env[name]?.trim();
    if (region) return { ...base, region, regionSource: name };
  }
  try {
    return { ...base, region: await sdkRegion(), regionSource: env.AWS_PROFILE ? `profile ${env.AWS_PROFILE}` : 'the AWS SDK config chain' };
  } catch (e) {
    if (endpoint) return { ...base, region: EMULATOR_DEFAULT_REGION, regionSource: `default for an endpoint override (${endpoint.source})` };
    throw new StrataError(
      'CONFIG_INVALID',
      `no AWS region is configured for ${SERVICE_NAME[service]}: set AWS_REGION (or AWS_DEFAULT_REGION, or region in your AWS profile) (${(e as Error).message})`,
      { cause: e },
    );
  }
}

/** "DynamoDB in eu-west-1" or "S3 in us-east-1 at http://127.0.0.1:4566", for messages. */
export function describeAws(s: AwsSettings): string {
  return `${SERVICE_NAME[s.service]} in ${s.region}${s.endpoint ? ` at ${s.endpoint}` : ''}`;
}

const MAX_ATTEMPTS: Record<AwsService, number> = { dynamodb: 8, s3: 5 };

/** Options common to both SDK clients (a structural subset of their config types). */
export interface CommonClientOptions {
  region: string;
  endpoint?: string;
  maxAttempts?: number;
  retryMode?: string;
  requestHandler: { connectionTimeout: number; requestTimeout: number };
}

export function commonClientOptions(s: AwsSettings, env: NodeJS.ProcessEnv = process.env): CommonClientOptions {
  return {
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    // Left out when set in the environment, so the SDK's own reading of it applies.
    ...(env.AWS_MAX_ATTEMPTS ? {} : { maxAttempts: MAX_ATTEMPTS[s.service] }),
    ...(env.AWS_RETRY_MODE ? {} : { retryMode: 'standard' }),
    // requestTimeout is the socket's idle time, not the whole request: a slow 16 MiB part
    // upload that keeps moving is never cut off.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: s.service === 's3' ? 60_000 : 15_000 },
  };
}

/** S3-only options: path-style addressing and required-only checksums against an override. */
export function s3ClientExtras(s: AwsSettings, env: NodeJS.ProcessEnv = process.env): {
  forcePathStyle: boolean;
  followRegionRedirects: boolean;
  requestChecksumCalculation?: 'WHEN_REQUIRED';
  responseChecksumValidation?: 'WHEN_REQUIRED';
} {
  const emulator = s.endpoint !== undefined;
  return {
    forcePathStyle: emulator,
    // A bucket in another region is a configuration error worth reporting, not a silent detour.
    followRegionRedirects: false,
    ...(emulator && !env.AWS_REQUEST_CHECKSUM_CALCULATION ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
    ...(emulator && !env.AWS_RESPONSE_CHECKSUM_VALIDATION ? { responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
  };
}
