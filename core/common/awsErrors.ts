import { StrataError } from './errors';

/**
 * Turning AWS SDK failures into StrataErrors whose message says what to do. The SDK has
 * already retried what is worth retrying (throttling, 5xx, dropped connections) by the time
 * an error gets here, so everything below is final for the operation at hand.
 */
interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

function shape(e: unknown): SdkErrorShape {
  return typeof e === 'object' && e !== null ? (e as SdkErrorShape) : {};
}

/** The service's error code ('ConditionalCheckFailedException', 'NoSuchKey', 'NotFound'…). */
export function awsErrorName(e: unknown): string | undefined {
  return shape(e).name;
}

export function awsHttpStatus(e: unknown): number | undefined {
  return shape(e).$metadata?.httpStatusCode;
}

const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'Forbidden', 'AllAccessDisabled']);
/** The credentials themselves were refused (unknown key, bad secret, expired token). */
const BAD_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
]);
const THROTTLED = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'SlowDown', 'Throttling']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

export function isAccessDenied(e: unknown): boolean {
  const name = awsErrorName(e);
  return (name !== undefined && ACCESS_DENIED.has(name)) || (awsHttpStatus(e) === 403 && !BAD_CREDENTIALS.has(name ?? ''));
}

export function isNetworkError(e: unknown): boolean {
  const s = shape(e);
  if ((s.code !== undefined && NETWORK_CODES.has(s.code)) || s.name === 'TimeoutError' || s.name === 'RequestTimeout') return true;
  // The SDK's retry layer re-wraps a thrown value that is not an Error of its own realm
  // (it happens under test runners' VM contexts) keeping only its text.
  const code = /\b(E[A-Z_]+)\b/.exec(s.message ?? '')?.[1];
  return code !== undefined && NETWORK_CODES.has(code);
}

export interface AwsCallContext {
  /** The IAM action of the call, e.g. 'dynamodb:PutItem'. */
  action: string;
  /** What it was called on, e.g. "DynamoDB table 'strata-metadata'". */
  resource: string;
  /** The resource's ARN, for the permission hint. */
  arn: string;
  /** describeAws(...) of the client: service, region, endpoint. */
  target: string;
}

/** A final SDK failure as a StrataError naming the call, the resource and the fix. */
export function storeError(e: unknown, ctx: AwsCallContext): StrataError {
  if (e instanceof StrataError) return e;
  const s = shape(e);
  const name = s.name ?? 'Error';
  const said = `${name}${s.code && s.code !== name ? ` ${s.code}` : ''}: ${s.message ?? String(e)}`;
  if (name === 'CredentialsProviderError') {
    return new StrataError(
      'STORE_UNAVAILABLE',
      `no AWS credentials found for ${ctx.target}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role (${said})`,
      { cause: e },
    );
  }
  if (BAD_CREDENTIALS.has(name)) {
    return new StrataError('STORE_ACCESS_DENIED', `${ctx.target} rejected the AWS credentials calling ${ctx.action} on ${ctx.resource} (${said})`, { cause: e });
  }
  if (isAccessDenied(e)) {
    return new StrataError(
      'STORE_ACCESS_DENIED',
      `access denied calling ${ctx.action} on ${ctx.resource} (${ctx.target}): the broker's IAM identity needs the ${ctx.action} permission on ${ctx.arn} (${said})`,
      { cause: e },
    );
  }
  const attempts = s.$metadata?.attempts;
  const tries = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
  if (THROTTLED.has(name)) {
    return new StrataError('STORE_UNAVAILABLE', `${ctx.target} kept throttling ${ctx.action} on ${ctx.resource}${tries} (${said})`, { cause: e });
  }
  if (isNetworkError(e)) {
    return new StrataError('STORE_UNAVAILABLE', `cannot reach ${ctx.target} for ${ctx.action} on ${ctx.resource}${tries} (${said})`, { cause: e });
  }
  return new StrataError('STORE_UNAVAILABLE', `${ctx.action} on ${ctx.resource} failed${tries} (${ctx.target}; ${said})`, { cause: e });
}
