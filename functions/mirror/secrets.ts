import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { StrataError } from '../../core/common/errors';
import { parseSaslSecret, type SaslCredentials } from './config';

/**
 * SASL credentials from Secrets Manager (MIRROR_*_SASL_SECRET_ARN): a JSON secret
 * {"username": ..., "password": ...}, as MSK's SCRAM secrets are. The handler calls this once
 * per cold start and keeps the result; the secret's region is the ARN's.
 */
export async function fetchSaslSecret(arn: string): Promise<SaslCredentials> {
  const region = arn.split(':')[3] || undefined;
  const client = new SecretsManagerClient({ region });
  try {
    const res = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    return parseSaslSecret(arn, res.SecretString);
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError('CONFIG_INVALID', `mirror configuration: cannot read secret ${arn}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
  } finally {
    client.destroy();
  }
}
