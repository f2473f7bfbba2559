import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/**
 * The security section's certificates, made with the `openssl` command into the benchmark's temp
 * dir: a CA and a server certificate for 127.0.0.1 and localhost, EC P-256 (a few milliseconds
 * to make), valid from now for two days. The server's `pem` holds its PKCS#8 key then its chain
 * (certificate, CA): Kafka's PEM key store layout, for ssl.keystore.location.
 *
 * The benchmark compiles without test/, so this is a small copy of what test/helpers/certs.ts
 * makes (that one also makes client certificates and encrypted keys, which the benchmark does
 * not need).
 */

export interface BenchCerts {
  /** What clients trust (librdkafka's ssl.ca.location) and the broker's ssl.truststore.location. */
  caCert: string;
  /** The broker's key + certificate chain (ssl.keystore.location). */
  serverPem: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe', timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

export function makeBenchCerts(dir: string, serverNames: string[] = ['127.0.0.1', 'localhost']): BenchCerts {
  fs.mkdirSync(dir, { recursive: true });
  const key = (file: string): void => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
  key('ca.key');
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=Strata Bench CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt'],
    dir,
  );
  key('server.key');
  openssl(['req', '-new', '-key', 'server.key', '-subj', '/CN=strata-broker', '-out', 'server.csr'], dir);
  const san = serverNames.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', `subjectAltName=${san}`].join('\n') + '\n',
  );
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'server.crt'], dir);
  const read = (file: string): string => fs.readFileSync(path.join(dir, file), 'utf8');
  const serverPem = path.join(dir, 'server.pem');
  fs.writeFileSync(serverPem, read('server.key') + read('server.crt') + read('ca.crt'));
  return { caCert: path.join(dir, 'ca.crt'), serverPem };
}
