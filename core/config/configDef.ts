import { StrataError } from '../common/errors';

/**
 * The machinery shared by the topic and broker config registries: how a config is declared,
 * how its string form is parsed and validated, and how it is described to clients.
 *
 * Values arrive as strings (CreateTopics, IncrementalAlterConfigs, server.properties, flags,
 * env) and are reported back as strings (DescribeConfigs), so a registry entry's default is
 * its string form exactly as Kafka reports it, and parsing always starts from a string.
 */

/** Kafka's ConfigDef.Type, in the lower-case spelling used by the registries. */
export type ConfigKind = 'boolean' | 'string' | 'int' | 'short' | 'long' | 'double' | 'list' | 'class' | 'password';

/** DescribeConfigs v3+ `config_type` codes. */
export const ConfigType = {
  UNKNOWN: 0,
  BOOLEAN: 1,
  STRING: 2,
  INT: 3,
  SHORT: 4,
  LONG: 5,
  DOUBLE: 6,
  LIST: 7,
  CLASS: 8,
  PASSWORD: 9,
} as const;
export type ConfigTypeCode = (typeof ConfigType)[keyof typeof ConfigType];

/** DescribeConfigs v1+ `config_source` codes (Kafka's DescribeConfigsResponse.ConfigSource). */
export const ConfigSource = {
  UNKNOWN: 0,
  TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const;
export type ConfigSourceCode = (typeof ConfigSource)[keyof typeof ConfigSource];

/**
 * Validators mirror Kafka's ConfigDef validators, so that error messages and the
 * "Valid Values" column of the docs read the same as Kafka's.
 */
export type Validator =
  /** Range.atLeast / Range.between; bounds are inclusive. */
  | { kind: 'range'; min?: number; max?: number }
  /** ValidString.in: the (trimmed) value must be one of these, case-sensitive. */
  | { kind: 'enum'; values: readonly string[] }
  /** ValidList.in: every element of the list must be one of these. */
  | { kind: 'list'; values: readonly string[] }
  /** Anything else: returns a reason when the parsed value is invalid, null when it is fine. */
  | { kind: 'custom'; describe: string; check: (value: ParsedValue) => string | null };

export interface ConfigEntry {
  readonly name: string;
  readonly type: ConfigKind;
  /** The default's string form as DescribeConfigs reports it; null when the config has no default. */
  readonly default: string | null;
  readonly validator?: Validator;
  /** One line. */
  readonly doc: string;
  /**
   * For a topic config: the broker-level configs that supply its default, highest precedence
   * first (log.retention.ms before log.retention.minutes before log.retention.hours).
   * For a broker config: other names accepted for it (broker.id for node.id).
   */
  readonly synonyms: readonly string[];
  readonly isSensitive: boolean;
  readonly readOnly: boolean;
}

/** What parsing produces: long → bigint (exact), int/short/double → number, list → string[]. */
export type ParsedValue = boolean | string | number | bigint | string[];

/** One row of DescribeConfigs' synonyms array. */
export interface ConfigSynonym {
  name: string;
  value: string | null;
  source: ConfigSourceCode;
}

/** Everything DescribeConfigs reports about one config (all versions' fields). */
export interface DescribedConfig {
  name: string;
  value: string | null;
  source: ConfigSourceCode;
  isDefault: boolean;
  readOnly: boolean;
  isSensitive: boolean;
  synonyms: ConfigSynonym[];
  type: ConfigTypeCode;
  documentation: string;
}

const TYPE_CODE: Record<ConfigKind, ConfigTypeCode> = {
  boolean: ConfigType.BOOLEAN,
  string: ConfigType.STRING,
  int: ConfigType.INT,
  short: ConfigType.SHORT,
  long: ConfigType.LONG,
  double: ConfigType.DOUBLE,
  list: ConfigType.LIST,
  class: ConfigType.CLASS,
  password: ConfigType.PASSWORD,
};

export function configTypeCode(kind: ConfigKind): ConfigTypeCode {
  return TYPE_CODE[kind];
}

/** Kafka's ConfigException wording, so messages match what Kafka users search for. */
export function invalidValue(name: string, value: string, reason: string): StrataError {
  return new StrataError('CONFIG_INVALID', `Invalid value ${value} for configuration ${name}: ${reason}`);
}

const INTEGER = /^[+-]?\d+$/;
// Decimal and exponent forms only: Java also accepts hex floats and a trailing 'd'/'f',
// which nobody writes in a config file.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

const INT_MIN = -(2n ** 31n);
const INT_MAX = 2n ** 31n - 1n;
const SHORT_MIN = -(2n ** 15n);
const SHORT_MAX = 2n ** 15n - 1n;
export const LONG_MIN = -(2n ** 63n);
export const LONG_MAX = 2n ** 63n - 1n;

/**
 * Parses and validates a config's string form. Like Kafka's ConfigDef.parseType, the value is
 * trimmed first and booleans are case-insensitive; unlike Kafka, a double must be finite.
 * Throws StrataError('CONFIG_INVALID') with Kafka's wording.
 */
export function parseConfigValue(entry: ConfigEntry, raw: string): ParsedValue {
  const value = parseType(entry, raw);
  const v = entry.validator;
  if (v?.kind === 'list' && Array.isArray(value)) {
    // Kafka's ValidList names the offending element, not the whole list.
    const bad = value.find((item) => !v.values.includes(item));
    if (bad !== undefined) throw invalidValue(entry.name, bad, `String must be one of: ${v.values.join(', ')}`);
    return value;
  }
  const reason = v ? validatorReason(v, value) : null;
  if (reason !== null) throw invalidValue(entry.name, raw.trim(), reason);
  return value;
}

function parseType(entry: ConfigEntry, raw: string): ParsedValue {
  const s = raw.trim();
  switch (entry.type) {
    case 'boolean': {
      const lower = s.toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      throw invalidValue(entry.name, s, 'Expected value to be either true or false');
    }
    case 'int':
    case 'short':
    case 'long': {
      const [lo, hi, label] =
        entry.type === 'int' ? [INT_MIN, INT_MAX, 'INT'] : entry.type === 'short' ? [SHORT_MIN, SHORT_MAX, 'SHORT'] : [LONG_MIN, LONG_MAX, 'LONG'];
      if (!INTEGER.test(s)) throw invalidValue(entry.name, s, `Not a number of type ${label}`);
      const n = BigInt(s);
      if (n < lo || n > hi) throw invalidValue(entry.name, s, `Not a number of type ${label}`);
      return entry.type === 'long' ? n : Number(n);
    }
    case 'double': {
      const n = Number(s);
      if (!DECIMAL.test(s) || !Number.isFinite(n)) throw invalidValue(entry.name, s, 'Not a number of type DOUBLE');
      return n;
    }
    case 'list':
      return s === '' ? [] : s.split(/\s*,\s*/);
    case 'string':
    case 'class':
    case 'password':
      return s;
  }
}

function validatorReason(v: Validator, value: ParsedValue): string | null {
  switch (v.kind) {
    case 'range': {
      const n = typeof value === 'bigint' ? value : typeof value === 'number' ? value : null;
      if (n === null) return null;
      // Compare exactly: a long can exceed 2^53, the bounds are small integers or 0/1.
      const below = v.min !== undefined && (typeof n === 'bigint' ? n < BigInt(v.min) : n < v.min);
      if (below) return `Value must be at least ${v.min}`;
      const above = v.max !== undefined && (typeof n === 'bigint' ? n > BigInt(v.max) : n > v.max);
      if (above) return `Value must be no more than ${v.max}`;
      return null;
    }
    case 'enum':
      return typeof value === 'string' && v.values.includes(value) ? null : `String must be one of: ${v.values.join(', ')}`;
    case 'list': {
      if (!Array.isArray(value)) return null;
      const bad = value.find((item) => !v.values.includes(item));
      return bad === undefined ? null : `String must be one of: ${v.values.join(', ')}`;
    }
    case 'custom':
      return v.check(value);
  }
}

/**
 * The canonical string form of a parsed value, as Kafka's ConfigDef.convertToString writes it
 * (DescribeConfigs reports "compact,delete" for "compact, delete" and "0.5" for "0.50").
 */
export function formatConfigValue(kind: ConfigKind, value: ParsedValue): string {
  if (Array.isArray(value)) return value.join(',');
  if (kind === 'double' && typeof value === 'number') return javaDoubleToString(value);
  return String(value);
}

/** Java's Double.toString: "1.0", "0.5", "1.0E-5", "1.0E7" (what Kafka prints for doubles). */
export function javaDoubleToString(n: number): string {
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(n);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(n);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mantissa, exponent] = n.toExponential().split('e');
  const m = mantissa.includes('.') ? mantissa : `${mantissa}.0`;
  return `${m}E${exponent.startsWith('+') ? exponent.slice(1) : exponent}`;
}

/**
 * Long configs are exact bigints after parsing; the typed views expose them as numbers,
 * clamped to ±Number.MAX_SAFE_INTEGER. Every long config is a duration, a size or a count for
 * which 2^53 (285 millennia in ms, 8 PiB in bytes) already means "never"/"unbounded", so
 * clamping loses nothing while letting callers compare with Date.now() and file sizes.
 */
export function longToNumber(n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (n < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(n);
}

/** The "Valid Values" text Kafka's docs show: [-1,...], [0,...,1], [compact, delete]. */
export function describeValidator(v: Validator | undefined): string {
  if (!v) return '';
  switch (v.kind) {
    case 'range':
      if (v.min !== undefined && v.max !== undefined) return `[${v.min},...,${v.max}]`;
      if (v.min !== undefined) return `[${v.min},...]`;
      return v.max !== undefined ? `[...,${v.max}]` : '';
    case 'enum':
    case 'list':
      return `[${v.values.join(', ')}]`;
    case 'custom':
      return v.describe;
  }
}
