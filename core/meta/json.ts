/**
 * JSON with bigints, for metadata values (offsets are bigint end to end, and a metadata record
 * must not round an offset through a double).
 *
 * A bigint is written as {"$bigint":"123"}. So that no stored value can be mistaken for that
 * tag, every object key that starts with '$' is written with one more '$' ("$x" → "$$x") and
 * read back with one less: after escaping, a single-key object {"$bigint": ...} can only have
 * come from a bigint. The scheme is reversible for every value, so nothing is reserved.
 *
 * Values must be plain JSON plus bigint: finite numbers, strings, booleans, null, arrays and
 * plain objects. Anything else (undefined, NaN, functions, Dates, Maps) is refused rather than
 * silently changed the way JSON.stringify would change it.
 */
export type KvValue = null | boolean | number | string | bigint | KvValue[] | { [key: string]: KvValue };

const BIGINT_TAG = '$bigint';

export function encodeKvValue(value: KvValue): string {
  return JSON.stringify(toJson(value, '$'));
}

export function decodeKvValue(text: string): KvValue {
  return fromJson(JSON.parse(text) as unknown);
}

function toJson(v: unknown, path: string): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`metadata value at ${path} is ${v}, which JSON cannot hold`);
      return v;
    case 'bigint':
      return { [BIGINT_TAG]: v.toString() };
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((item, i) => toJson(item, `${path}[${i}]`));
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`metadata value at ${path} is a ${(v as object).constructor?.name ?? 'non-plain object'}; only plain objects are stored`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        if (item === undefined) throw new TypeError(`metadata value at ${path}.${k} is undefined; use null or leave the key out`);
        setOwn(out, k.startsWith('$') ? `$${k}` : k, toJson(item, `${path}.${k}`));
      }
      return out;
    }
    default:
      throw new TypeError(`metadata value at ${path} is a ${typeof v}, which cannot be stored`);
  }
}

function fromJson(v: unknown): KvValue {
  if (v === null || typeof v !== 'object') return v as KvValue;
  if (Array.isArray(v)) return v.map(fromJson);
  const keys = Object.keys(v);
  const obj = v as Record<string, unknown>;
  if (keys.length === 1 && keys[0] === BIGINT_TAG && typeof obj[BIGINT_TAG] === 'string') {
    return BigInt(obj[BIGINT_TAG] as string);
  }
  const out: { [key: string]: KvValue } = {};
  for (const k of keys) setOwn(out, k.startsWith('$') ? k.slice(1) : k, fromJson(obj[k]));
  return out;
}

/** Plain assignment of "__proto__" would change the object's prototype instead of adding a key. */
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
