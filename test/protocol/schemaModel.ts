import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';

/**
 * A second, deliberately independent reading of Kafka's JSON message schemas, used by the tests
 * to build random messages for any version and to predict what decoding them must give back.
 * It shares no code with scripts/gen-protocol.mjs, so a misreading of the schema rules in the
 * generator shows up as a round-trip mismatch here instead of being mirrored.
 */

export const SCHEMA_DIR = resolve(__dirname, '..', '..', '..', 'shared', 'kafka-message-schemas');
/** Strata's own APIs (api keys from 10000), in the same format. */
export const STRATA_SCHEMA_DIR = resolve(__dirname, '..', '..', 'core', 'protocol', 'schemas');

export interface Range {
  lo: number;
  hi: number;
}

export interface FieldSpec {
  name: string; // camelCase, as in the generated interfaces
  type: string; // element type for arrays
  array: boolean;
  versions: Range | null;
  nullable: Range | null;
  tagged: Range | null;
  tag?: number;
  flexOverride?: Range | null;
  default?: unknown;
  fields?: FieldSpec[]; // for struct types
}

export interface MessageSpec {
  name: string;
  apiKey: number;
  type: 'request' | 'response';
  valid: Range;
  flexible: Range | null;
  fields: FieldSpec[];
}

/** Drops `//` comments outside string literals. */
function dropComments(src: string): string {
  const out: string[] = [];
  let quoted = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (quoted) {
      if (ch === '\\') {
        out.push(ch, src[i + 1]);
        i++;
        continue;
      }
      if (ch === '"') quoted = false;
      out.push(ch);
    } else if (ch === '/' && src[i + 1] === '/') {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? src.length : nl - 1;
    } else {
      if (ch === '"') quoted = true;
      out.push(ch);
    }
  }
  return out.join('');
}

function range(spec: unknown): Range | null {
  if (spec === undefined || spec === 'none') return null;
  const s = String(spec);
  if (s.endsWith('+')) return { lo: Number(s.slice(0, -1)), hi: Number.MAX_SAFE_INTEGER };
  const dash = s.indexOf('-');
  if (dash > 0) return { lo: Number(s.slice(0, dash)), hi: Number(s.slice(dash + 1)) };
  return { lo: Number(s), hi: Number(s) };
}

export function inRange(r: Range | null, v: number): boolean {
  return r !== null && v >= r.lo && v <= r.hi;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.substring(1);
}

interface RawField {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  flexibleVersions?: string;
  default?: unknown;
  fields?: RawField[];
}

function toField(raw: RawField, common: Map<string, RawField[]>): FieldSpec {
  const array = raw.type.startsWith('[]');
  const type = array ? raw.type.substring(2) : raw.type;
  const f: FieldSpec = {
    name: lowerFirst(raw.name),
    type,
    array,
    versions: range(raw.versions),
    nullable: range(raw.nullableVersions),
    tagged: raw.tag === undefined ? null : range(raw.taggedVersions ?? raw.versions),
    tag: raw.tag,
    default: raw.default,
  };
  if (raw.flexibleVersions !== undefined) f.flexOverride = range(raw.flexibleVersions);
  const sub = raw.fields ?? common.get(type);
  if (sub) f.fields = sub.map((x) => toField(x, common));
  return f;
}

let cache: MessageSpec[] | undefined;

export function loadMessages(): MessageSpec[] {
  if (cache) return cache;
  const out: MessageSpec[] = [];
  const files = [SCHEMA_DIR, STRATA_SCHEMA_DIR].flatMap((dir) => readdirSync(dir).sort().map((file) => ({ dir, file })));
  for (const { dir, file } of files) {
    if (!file.endsWith('.json')) continue;
    const json = JSON.parse(dropComments(readFileSync(join(dir, file), 'utf8')));
    if (json.type !== 'request' && json.type !== 'response') continue;
    const common = new Map<string, RawField[]>();
    for (const c of json.commonStructs ?? []) common.set(c.name, c.fields);
    out.push({
      name: json.name,
      apiKey: json.apiKey,
      type: json.type,
      valid: range(json.validVersions)!,
      flexible: range(json.flexibleVersions),
      fields: (json.fields as RawField[]).map((x) => toField(x, common)),
    });
  }
  cache = out;
  return out;
}

export function versionsOf(m: MessageSpec): number[] {
  const vs: number[] = [];
  for (let v = m.valid.lo; v <= m.valid.hi; v++) vs.push(v);
  return vs;
}

// ---- defaults ----------------------------------------------------------------------------

const INT_TYPES = new Set(['int8', 'int16', 'uint16', 'int32', 'uint32']);

/** The value a decoder must produce for a field that is absent from the version read. */
export function defaultOf(f: FieldSpec): unknown {
  const d = f.default;
  if (d === 'null') return null;
  if (f.array) return [];
  if (f.fields) return Object.fromEntries(f.fields.map((x) => [x.name, defaultOf(x)]));
  if (INT_TYPES.has(f.type)) return d === undefined ? 0 : Number(parseBig(String(d)));
  switch (f.type) {
    case 'int64':
      return d === undefined ? 0n : parseBig(String(d));
    case 'float64':
      return d === undefined ? 0 : Number(d);
    case 'bool':
      return d === true || d === 'true';
    case 'string':
      return d === undefined ? '' : String(d);
    case 'uuid':
      return 'AAAAAAAAAAAAAAAAAAAAAA';
    case 'bytes':
      return Buffer.alloc(0);
    case 'records':
      return null;
  }
  throw new Error(`no default for ${f.type}`);
}

function parseBig(s: string): bigint {
  const t = s.trim();
  return t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
}

// ---- random messages ---------------------------------------------------------------------

/** A random value for a field of the given version, as a caller would hand it to a writer. */
function valueArb(f: FieldSpec, version: number, depth: number): fc.Arbitrary<unknown> {
  const elem = elementArb(f, version, depth);
  let arb: fc.Arbitrary<unknown> = f.array ? fc.array(elem, { maxLength: depth > 2 ? 1 : 3 }) : elem;
  if (inRange(f.nullable, version) && f.type !== 'records') arb = fc.oneof(arb, fc.constant(null));
  return arb;
}

function elementArb(f: FieldSpec, version: number, depth: number): fc.Arbitrary<unknown> {
  if (f.fields) return structArb(f.fields, version, depth + 1);
  switch (f.type) {
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer();
    case 'uint32':
      return fc.integer({ min: 0, max: 0xffffffff });
    case 'int64':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 'float64':
      return fc.double();
    case 'bool':
      return fc.boolean();
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 6 });
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64url'));
    case 'bytes':
      return fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b));
    case 'records':
      return fc.oneof(
        fc.constant(null),
        fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
        fc.array(fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b)), { minLength: 1, maxLength: 3 }),
      );
  }
  throw new Error(`no arbitrary for ${f.type}`);
}

export function structArb(fields: FieldSpec[], version: number, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) {
    const present = inRange(f.versions, version);
    const value = valueArb(f, present ? version : -1, depth);
    // Absent fields may be set anyway (the writer must skip them); tagged fields and fields
    // with a default may be left out (the writer must use the default).
    const mayOmit = !present || f.tagged !== null || f.default !== undefined;
    shape[f.name] = mayOmit ? fc.oneof(value, fc.constant(undefined)) : value;
  }
  return fc.record(shape).map((o) => {
    for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
    return o;
  });
}

/** What reading back `value` (written at `version`) must give. */
export function expectedRead(fields: FieldSpec[], version: number, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = value[f.name];
    if (!inRange(f.versions, version) || v === undefined) {
      out[f.name] = defaultOf(f);
      continue;
    }
    out[f.name] = expectedValue(f, version, v);
  }
  return out;
}

function expectedValue(f: FieldSpec, version: number, v: unknown): unknown {
  if (v === null) return null;
  if (f.array) return (v as unknown[]).map((e) => expectedElement(f, version, e));
  return expectedElement(f, version, v);
}

function expectedElement(f: FieldSpec, version: number, v: unknown): unknown {
  if (f.fields) return expectedRead(f.fields, version, v as Record<string, unknown>);
  if (f.type === 'records' && Array.isArray(v)) return Buffer.concat(v as Buffer[]);
  return v;
}

/** A JSON-friendly form for comparisons with readable diffs (Buffers as hex, bigints tagged). */
export function canon(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `hex:${v.toString('hex')}`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' && Object.is(v, -0)) return '-0';
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  if (Array.isArray(v)) return v.map(canon);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = canon((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}
