import type { Logger } from '../common/logger';
import { formatListener, type BrokerConfig } from '../config/brokerConfig';
import type { BrokerEndpoint } from '../meta/metadataStore';
import type { ScramCredentialStore } from '../security/scramCredentialStore';
import { listenerSecurity, type ListenerSecurityParts } from './listenerSecurity';
import type { StreamOptions } from './responseStream';
import { KafkaServer, type FrameHandler } from './server';

export interface ListenersOptions {
  config: BrokerConfig;
  handler: FrameHandler;
  stream: Omit<StreamOptions, 'onProgress'>;
  scramCredentials: ScramCredentialStore | undefined;
  /** Counts SASL outcomes (metrics); optional. */
  onSaslOutcome?: (listener: string, mechanism: string, outcome: 'success' | 'failure') => void;
  logger: Logger;
}

/**
 * Every listener of `listeners`, one KafkaServer each with its protocol's TLS and SASL, and what
 * clients are told of them once bound: the advertised address per listener (a client gets the
 * addresses of the listener it connected to). Construction reads the certificates (a bad file
 * throws CONFIG_INVALID); bind() binds them in order and closes them all if one fails.
 */
export class Listeners {
  private readonly servers: KafkaServer[];
  private readonly security: ListenerSecurityParts[] = [];
  private bound: { name: string; host: string; port: number }[] = [];
  private readonly advertised = new Map<string, { host: string; port: number }>();

  constructor(private readonly opts: ListenersOptions) {
    const { config } = opts;
    const network = opts.logger.child('network');
    const securityLogger = opts.logger.child('security');
    this.servers = config.listeners.map((l) => {
      const parts = listenerSecurity(l, opts.scramCredentials, securityLogger, (mechanism, outcome) => opts.onSaslOutcome?.(l.name, mechanism, outcome));
      this.security.push(parts);
      return new KafkaServer(
        {
          host: l.host,
          port: l.port,
          listenerName: l.name,
          securityProtocol: l.securityProtocol,
          maxRequestBytes: config.socketRequestMaxBytes,
          idleTimeoutMs: config.connectionsMaxIdleMs,
          maxConnections: config.maxConnections,
          maxConnectionsPerIp: config.maxConnectionsPerIp,
          maxConnectionsPerIpOverrides: config.maxConnectionsPerIpOverrides,
          logger: network,
          stream: opts.stream,
          tls: parts.tls,
          authenticator: parts.authenticator,
        },
        opts.handler,
      );
    });
  }

  /** Binds every listener (in order); on a failure closes those bound and throws. Returns the advertised endpoints. */
  async bind(): Promise<BrokerEndpoint[]> {
    const { config } = this.opts;
    try {
      for (const [i, server] of this.servers.entries()) this.bound.push({ name: config.listeners[i].name, ...(await server.listen()) });
    } catch (e) {
      await this.close();
      throw e;
    }
    return config.listeners.map((l, i) => {
      const b = this.bound[i];
      const host = l.advertised?.host || (b.host === '0.0.0.0' || b.host === '' || b.host === '::' ? '127.0.0.1' : b.host);
      const port = l.advertised && l.advertised.port !== 0 ? l.advertised.port : b.port;
      this.advertised.set(l.name, { host, port });
      return { listener: l.name, host, port, securityProtocol: l.securityProtocol };
    });
  }

  /** Where clients of `listener` are told this broker is (the inter-broker listener's address for an unknown name; empty before bind). */
  advertisedOn(listener: string): { host: string; port: number } {
    return this.advertised.get(listener) ?? this.advertised.get(this.opts.config.interBrokerListenerName) ?? { host: '', port: 0 };
  }

  /** The first listener as bound (what `strata broker` prints first and tests connect to). */
  get first(): { host: string; port: number } {
    const b = this.bound[0];
    return { host: b.host, port: b.port };
  }

  /** NAME://HOST:PORT of each bound listener, for the startup line. */
  describeBound(): string {
    return this.bound.map((b) => formatListener(b.name, b)).join(', ');
  }

  /** Open connections (TLS handshakes included) over every listener. */
  get connectionCount(): number {
    return this.servers.reduce((n, s) => n + s.connectionCount, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close()));
    for (const p of this.security) p.close();
  }
}
