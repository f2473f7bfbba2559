/** Certificates for TLS tests: bench/certs.ts, shared with the benchmark (which compiles without test/). */
export { makeCerts, type CertPair, type ClientCert, type MakeCertsOptions, type TestCerts } from '../../bench/certs';
