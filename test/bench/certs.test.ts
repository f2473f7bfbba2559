import { X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tls from 'tls';
import { makeBenchCerts } from '../../bench/certs';

describe('makeBenchCerts', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-certs-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('makes a CA and a server certificate for the loopback names, signed by it, with the key store layout Kafka reads', () => {
    const c = makeBenchCerts(path.join(dir, 'certs'));
    const ca = new X509Certificate(fs.readFileSync(c.caCert));
    const pem = fs.readFileSync(c.serverPem, 'utf8');
    // key, then the chain: the server certificate, then the CA.
    expect(pem.match(/-----BEGIN [A-Z ]+-----/g)).toEqual(['-----BEGIN PRIVATE KEY-----', '-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE-----']);
    const server = new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----')));
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    // Usable as is by a TLS server (what the broker does with ssl.keystore.location).
    expect(() => tls.createSecureContext({ key: pem, cert: pem })).not.toThrow();
  });
});
