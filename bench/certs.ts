import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/**
 * Certificates for TLS tests and the benchmark's security section (test/helpers/certs.ts
 * re-exports this: the benchmark compiles without test/), made with the `openssl` command into a directory the test owns
 * (usually a mkdtemp dir it removes afterwards): a CA, a server certificate for the loopback
 * names, and one client certificate per name. EC P-256 keys, so making them takes a few
 * milliseconds; valid from an hour ago (clock skew between processes) for two days.
 *
 * Every key is PKCS#8 PEM ("BEGIN PRIVATE KEY"), which is what Kafka's ssl.keystore.type=PEM
 * reads; `pem` files hold the key then the certificate chain (Kafka's PEM key store layout, for
 * ssl.keystore.location).
 *
 *   const c = makeCerts(dir, { clients: ['alice'] });
 *   ssl.truststore.location=${c.ca.cert}   ssl.keystore.location=${c.server.pem}
 *   ssl.keystore.location=${c.clients.alice.pem} (a client certificate whose subject is CN=alice)
 */

export interface CertPair {
  /** The certificate alone (PEM). */
  cert: string;
  /** The private key, PKCS#8 PEM, unencrypted. */
  key: string;
  /** Key + certificate chain (certificate, then the CA) in one PEM file. */
  pem: string;
  /** The subject, e.g. 'CN=alice'. */
  subject: string;
}

export interface ClientCert extends CertPair {
  /** The same key encrypted with `keyPassword` (PKCS#8, AES-256-CBC): for ssl.key.password. */
  encryptedKey: string;
  /** Encrypted key + chain in one PEM file. */
  encryptedPem: string;
  keyPassword: string;
}

export interface TestCerts {
  dir: string;
  /** The CA: `cert` is what clients and brokers trust (ssl.truststore.location). */
  ca: { cert: string; key: string };
  /** The broker's certificate, for the names in `serverNames`. */
  server: CertPair;
  clients: Record<string, ClientCert>;
}

export interface MakeCertsOptions {
  /** Client certificates to make, by common name. Default none. */
  clients?: string[];
  /** The server certificate's subject alternative names. Default ['127.0.0.1', 'localhost']. */
  serverNames?: string[];
  /** The CA's common name (two CAs made by two calls must differ to be told apart). Default 'Strata Test CA'. */
  caName?: string;
  /** Password of the clients' encrypted keys. Default 'key-secret'. */
  keyPassword?: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe', timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

function newKey(dir: string, file: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
}

/** Signs a CSR for `subject` with the CA, adding the extensions in `ext` (openssl x509 extfile lines). */
function signed(dir: string, name: string, subject: string, ext: string[]): void {
  newKey(dir, `${name}.key`);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/${subject.replace(/,/g, '/')}`, '-out', `${name}.csr`], dir);
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

function pair(dir: string, name: string, subject: string): CertPair {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const pem = path.join(dir, `${name}.pem`);
  fs.writeFileSync(pem, fs.readFileSync(key, 'utf8') + fs.readFileSync(cert, 'utf8') + fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'));
  return { cert, key, pem, subject };
}

export function makeCerts(dir: string, opts: MakeCertsOptions = {}): TestCerts {
  fs.mkdirSync(dir, { recursive: true });
  const caName = opts.caName ?? 'Strata Test CA';
  newKey(dir, 'ca.key');
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-subj', `/CN=${caName}`, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt'],
    dir,
  );

  const names = opts.serverNames ?? ['127.0.0.1', 'localhost'];
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  signed(dir, 'server', 'CN=strata-broker', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=${san}`]);
  const server = pair(dir, 'server', 'CN=strata-broker');

  const keyPassword = opts.keyPassword ?? 'key-secret';
  const clients: Record<string, ClientCert> = {};
  for (const name of opts.clients ?? []) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`client name '${name}' must be a plain word (it names files)`);
    const file = `client-${name}`;
    signed(dir, file, `CN=${name}`, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']);
    const p = pair(dir, file, `CN=${name}`);
    const encryptedKey = path.join(dir, `${file}.enc.key`);
    openssl(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', p.key, '-passout', `pass:${keyPassword}`, '-out', encryptedKey], dir);
    const encryptedPem = path.join(dir, `${file}.enc.pem`);
    fs.writeFileSync(encryptedPem, fs.readFileSync(encryptedKey, 'utf8') + fs.readFileSync(p.cert, 'utf8') + fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'));
    clients[name] = { ...p, encryptedKey, encryptedPem, keyPassword };
  }
  return { dir, ca: { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') }, server, clients };
}

/** What the benchmark needs of makeCerts: what clients trust, and the broker's key store. */
export interface BenchCerts {
  /** What clients trust (librdkafka's ssl.ca.location) and the broker's ssl.truststore.location. */
  caCert: string;
  /** The broker's key + certificate chain (ssl.keystore.location). */
  serverPem: string;
}

export function makeBenchCerts(dir: string, serverNames: string[] = ['127.0.0.1', 'localhost']): BenchCerts {
  const c = makeCerts(dir, { serverNames, caName: 'Strata Bench CA' });
  return { caCert: c.ca.cert, serverPem: c.server.pem };
}
