import type { MetadataStore } from '../meta/metadataStore';
import type { VersionedKv } from '../meta/versionedKv';
import type { ObjectStore } from '../tier/objectStore';
import type { ApiHandler } from './handlers/types';

/**
 * What a broker that lost its registration lease (core/meta/brokerLease.ts) must not do any
 * more: write to the shared stores, or serve a request (a produce would append to a log that
 * another broker now leads). Each guard calls `check` (BrokerLease.checkHeld: a clock read, no
 * I/O) first and lets its StrataError('BROKER_FENCED') propagate. Reads of the stores pass
 * through; the lease's own writes use the unguarded store.
 */
export type LeaseCheck = () => void;

/** Every write of the metadata store (and of its namespaces) checks the lease first. */
export function guardMetadataStore(store: MetadataStore, check: LeaseCheck): MetadataStore {
  const guarded = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      check();
      return fn(...args);
    };
  return {
    getOrCreateClusterId: guarded(() => store.getOrCreateClusterId()),
    createTopic: guarded((t, states) => store.createTopic(t, states)),
    getTopic: (name) => store.getTopic(name),
    listTopics: () => store.listTopics(),
    updateTopic: guarded((name, v, changes) => store.updateTopic(name, v, changes)),
    deleteTopic: guarded((name, v) => store.deleteTopic(name, v)),
    getPartitionState: (id, p) => store.getPartitionState(id, p),
    listPartitionStates: (id) => store.listPartitionStates(id),
    putPartitionState: guarded((s, v) => store.putPartitionState(s, v)),
    putBroker: guarded((b, v) => store.putBroker(b, v)),
    getBroker: (id) => store.getBroker(id),
    listBrokers: () => store.listBrokers(),
    deleteBroker: guarded((id, v) => store.deleteBroker(id, v)),
    collectOrphans: guarded((opts) => store.collectOrphans(opts)),
    namespace: (name) => guardKv(store.namespace(name), check),
    close: () => store.close(),
  };
}

function guardKv(kv: VersionedKv, check: LeaseCheck): VersionedKv {
  return {
    get: (key) => kv.get(key),
    list: (prefix) => kv.list(prefix),
    put: async (key, value, expectedVersion) => {
      check();
      return kv.put(key, value, expectedVersion);
    },
    delete: async (key, expectedVersion) => {
      check();
      return kv.delete(key, expectedVersion);
    },
    close: () => kv.close(),
  };
}

/** Uploads and deletes of tiered objects check the lease first. */
export function guardObjectStore(objects: ObjectStore, check: LeaseCheck): ObjectStore {
  return {
    put: async (key, body, opts) => {
      check();
      return objects.put(key, body, opts);
    },
    get: (key, range) => objects.get(key, range),
    head: (key) => objects.head(key),
    list: (prefix) => objects.list(prefix),
    delete: async (key) => {
      check();
      return objects.delete(key);
    },
    close: () => objects.close(),
  };
}

/**
 * The handler serves only while the lease is held; otherwise the throw makes the server close
 * the connection (clients reconnect, refresh metadata and find the broker that holds it now).
 */
export function guardHandler<Req, Res>(handler: ApiHandler<Req, Res>, check: LeaseCheck): ApiHandler<Req, Res> {
  return {
    apiKey: handler.apiKey,
    minImplemented: handler.minImplemented,
    handle: (req, ctx) => {
      check();
      return handler.handle(req, ctx);
    },
    errorResponse: (req, code, ctx) => handler.errorResponse(req, code, ctx),
  };
}
