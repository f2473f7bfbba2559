import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { StrataError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { SslSettings } from '../config/securityConfigs';

/** How often the certificate files are checked for changes (Kafka reloads on AlterConfigs; Strata watches the files). */
const RELOAD_CHECK_INTERVAL_MS = 2000;

/**
 * A listener's TLS context from PEM files (Kafka's ssl.keystore.type=PEM), rebuilt when the
 * files change: new connections use the new certificate, open ones keep theirs. A change that
 * does not load (a half-written file, a key that does not match) keeps the old context and logs
 * why; the next change is tried again.
 */
export class TlsContextSource {
  private opts: tls.SecureContextOptions;
  private stamp: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly listener: string,
    private readonly settings: SslSettings,
    private readonly logger: Logger,
  ) {
    this.opts = loadOptions(listener, settings);
    this.stamp = fileStamp(settings);
  }

  /** The current certificate, key and trust store. */
  get options(): tls.SecureContextOptions {
    return this.opts;
  }

  /** Calls `fn` after each successful reload. */
  onReload(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Starts watching the files (a cheap stat every 2 s). */
  watch(intervalMs = RELOAD_CHECK_INTERVAL_MS): void {
    if (this.timer !== null || filesOf(this.settings).length === 0) return;
    this.timer = setInterval(() => this.reloadIfChanged(), intervalMs);
    this.timer.unref();
  }

  /** Rebuilds the context when a file changed since the last load; true when it did. */
  reloadIfChanged(): boolean {
    const stamp = fileStamp(this.settings);
    if (stamp === this.stamp) return false;
    this.stamp = stamp;
    try {
      this.opts = loadOptions(this.listener, this.settings);
      for (const fn of this.listeners) fn();
      this.logger.info(`listener ${this.listener}: reloaded its TLS certificate and trust store (the files changed)`);
      return true;
    } catch (e) {
      this.logger.warn(`listener ${this.listener}: the TLS files changed but do not load; keeping the previous certificate: ${(e as Error).message}`);
      return false;
    }
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

function filesOf(s: SslSettings): string[] {
  return [s.keystoreLocation, s.truststoreLocation].filter((f): f is string => f !== null);
}

function fileStamp(s: SslSettings): string {
  return filesOf(s)
    .map((f) => {
      try {
        const st = fs.statSync(f);
        return `${f}:${st.mtimeMs}:${st.size}:${st.ino}`;
      } catch {
        return `${f}:missing`;
      }
    })
    .join('|');
}

function readPem(listener: string, what: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new StrataError('CONFIG_INVALID', `Listener ${listener}: cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** tls.SecureContextOptions for a listener's settings (the server side; the client side uses the same files). */
export function secureContextOptions(listener: string, s: SslSettings): tls.SecureContextOptions {
  let cert: string;
  let key: string;
  if (s.keystoreLocation !== null) {
    const pem = readPem(listener, 'ssl.keystore.location', s.keystoreLocation);
    cert = pem;
    key = pem;
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      throw new StrataError('CONFIG_INVALID', `Listener ${listener}: ssl.keystore.location ${s.keystoreLocation} holds no private key (a PEM keystore holds the key and the certificate chain).`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new StrataError('CONFIG_INVALID', `Listener ${listener}: ssl.keystore.location ${s.keystoreLocation} holds no certificate (a PEM keystore holds the key and the certificate chain).`);
    }
  } else {
    cert = s.certificateChain!;
    key = s.key!;
  }
  const ca = s.truststoreLocation !== null ? readPem(listener, 'ssl.truststore.location', s.truststoreLocation) : (s.truststoreCertificates ?? undefined);
  const versions = [...s.enabledProtocols].sort();
  return {
    cert,
    key,
    passphrase: s.keyPassword ?? undefined,
    ca,
    minVersion: versions[0] as tls.SecureVersion,
    maxVersion: versions[versions.length - 1] as tls.SecureVersion,
    ...(s.cipherSuites.length > 0 ? { ciphers: s.cipherSuites.join(':') } : {}),
  };
}

/** The options, checked by building a context from them (a key that does not match its certificate fails here). */
function loadOptions(listener: string, s: SslSettings): tls.SecureContextOptions {
  try {
    const opts = secureContextOptions(listener, s);
    tls.createSecureContext(opts);
    return opts;
  } catch (e) {
    if (e instanceof StrataError) throw e;
    throw new StrataError('CONFIG_INVALID', `Listener ${listener}: the TLS certificate, key or trust store does not load: ${(e as Error).message}`, { cause: e });
  }
}
