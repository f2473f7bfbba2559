#!/usr/bin/env node
// Generates TypeScript codecs for Kafka's request/response messages from Kafka's own JSON
// message schemas (../shared/kafka-message-schemas relative to the repo root).
//
//   node scripts/gen-protocol.mjs            write core/protocol/generated/*.ts
//   node scripts/gen-protocol.mjs --check    regenerate in memory; exit 1 if the committed
//                                            files differ (CI drift check)
//   --schemas DIR                            read schemas from DIR instead (and not Strata's own in core/protocol/schemas)
//   --out DIR                                write to DIR instead (used by tests)
//
// One file per message: an interface per struct, and straight-line read/write functions that
// branch on the version only where the schema says a field appears, becomes nullable or turns
// compact. Nothing is interpreted at run time. The output is deterministic (sorted inputs, no
// timestamps) because it is committed and diffed.
//
// Format rules implemented here (see the schemas' README):
// - versions "N+", "N-M", "N", "none"; flexibleVersions switch strings/bytes/arrays/records to
//   their compact (uvarint length + 1) forms and add a tagged-field section to every struct.
// - tagged fields (tag/taggedVersions) are read from that section, unknown tags skipped; they
//   are written only when they differ from their default, in ascending tag order.
// - nullable structs carry a presence marker: int8 (-1 null, 1 present) in the body, uvarint
//   (0 null, 1 present) inside a tagged field.
// - fields absent from a version are filled with their default on read and skipped on write.

import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---- command line ------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = {
    schemas: resolve(REPO, '..', 'shared', 'kafka-message-schemas'),
    // Strata's own APIs (api keys from 10000), in the same format, kept in the repo.
    strataSchemas: resolve(REPO, 'core', 'protocol', 'schemas'),
    out: join(REPO, 'core', 'protocol', 'generated'),
    check: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') opts.check = true;
    else if (a === '--schemas' || a === '--out') {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a directory`);
      opts[a.slice(2)] = resolve(v);
      // Other schemas than Kafka's: generate exactly those.
      if (a === '--schemas') opts.strataSchemas = null;
    } else fail(`unknown argument ${a} (expected --check, --schemas DIR, --out DIR)`);
  }
  return opts;
}

function fail(msg) {
  console.error(`gen-protocol: ${msg}`);
  process.exit(2);
}

// ---- schema loading ----------------------------------------------------------------------

/** Removes `//` line comments, leaving `//` inside JSON strings (URLs in "about") alone. */
function stripComments(text) {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else out += c;
  }
  return out;
}

/**
 * The "data" schemas (no api key) that Strata needs as codecs: the consumer protocol's
 * subscription and assignment, carried as opaque bytes in JoinGroup/SyncGroup and decoded by
 * the group coordinator and the consumer. Other data schemas (Raft records, principals) are
 * left out until something uses them.
 */
const DATA_SCHEMAS = new Set(['ConsumerProtocolSubscription', 'ConsumerProtocolAssignment']);

function loadSchemas(dir) {
  if (!existsSync(dir)) fail(`schema directory ${dir} not found (use --schemas DIR)`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const messages = [];
  for (const f of files) {
    let json;
    try {
      json = JSON.parse(stripComments(readFileSync(join(dir, f), 'utf8')));
    } catch (e) {
      fail(`${f}: ${e.message}`);
    }
    if (json.type === 'request' || json.type === 'response' || (json.type === 'data' && DATA_SCHEMAS.has(json.name))) {
      messages.push({ file: f, json });
    }
  }
  return messages;
}

// ---- versions ----------------------------------------------------------------------------

const INF = Infinity;

/** "3+", "3-5", "3", "none" -> {min, max} (max Infinity when open) or null for none. */
function parseVersions(spec, what) {
  if (spec === undefined) return null;
  const s = String(spec).trim();
  if (s === 'none' || s === '') return null;
  let m;
  if ((m = /^(\d+)\+$/.exec(s))) return { min: +m[1], max: INF };
  if ((m = /^(\d+)-(\d+)$/.exec(s))) return { min: +m[1], max: +m[2] };
  if ((m = /^(\d+)$/.exec(s))) return { min: +m[1], max: +m[1] };
  throw new Error(`${what}: bad version spec ${JSON.stringify(spec)}`);
}

function intersect(a, b) {
  if (a === null || b === null) return null;
  const min = Math.max(a.min, b.min);
  const max = Math.min(a.max, b.max);
  return min > max ? null : { min, max };
}

/** a minus an open-ended b ("N+"), which is all taggedVersions ever are. */
function subtractOpen(a, b) {
  if (a === null) return null;
  if (b === null) return a;
  if (b.max !== INF) throw new Error('taggedVersions must be open-ended');
  return intersect(a, { min: 0, max: b.min - 1 });
}

function covers(a, ctx) {
  return a !== null && ctx !== null && a.min <= ctx.min && a.max >= ctx.max;
}

function fmtRange(r) {
  if (r === null) return 'none';
  if (r.max === INF) return `${r.min}+`;
  return r.min === r.max ? `${r.min}` : `${r.min}-${r.max}`;
}

/**
 * A condition as code: 'true', 'false', or a comparison on `version`, simplified against the
 * versions the enclosing struct can be read or written at (ctx).
 */
function cond(range, ctx) {
  const r = intersect(range, ctx);
  if (r === null) return 'false';
  const lo = r.min > ctx.min;
  const hi = r.max < ctx.max;
  if (lo && hi) return r.min === r.max ? `version === ${r.min}` : `version >= ${r.min} && version <= ${r.max}`;
  if (lo) return `version >= ${r.min}`;
  if (hi) return `version <= ${r.max}`;
  return 'true';
}

// ---- naming ------------------------------------------------------------------------------

const JS_RESERVED = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false ' +
    'finally for function if import in instanceof new null return super switch this throw true try ' +
    'typeof var void while with yield let static implements interface package private protected ' +
    'public await arguments eval undefined NaN Infinity')
    .split(' '),
);
// Locals the generated functions use for themselves.
const INTERNAL = new Set(['r', 'w', 'm', 's', 'version', 'flexible']);
// Type names a struct must not shadow in a generated file.
const RESERVED_TYPES = new Set([
  'Reader', 'Writer', 'Buffer', 'RecordsInput', 'ProtocolDecodeError', 'Array', 'Map', 'Set',
  'Record', 'Partial', 'Object', 'String', 'Number', 'Boolean', 'BigInt', 'Error', 'Date',
  'Promise', 'Symbol',
]);

function camel(name) {
  return name[0].toLowerCase() + name.slice(1);
}

function localName(prop) {
  return JS_RESERVED.has(prop) || INTERNAL.has(prop) ? `${prop}_` : prop;
}

// ---- model -------------------------------------------------------------------------------

const PRIMITIVES = new Set([
  'bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64', 'string', 'uuid', 'bytes', 'records',
]);

/**
 * Builds the structs of one message: the top level plus every nested and common struct, each
 * with the versions it can occur in (ctx) and a unique TypeScript name.
 */
function buildMessage({ file, json }) {
  const name = json.name;
  const where = file;
  const valid = parseVersions(json.validVersions, `${where} validVersions`);
  if (valid === null) throw new Error(`${where}: no validVersions`);
  const flex = parseVersions(json.flexibleVersions, `${where} flexibleVersions`);

  const structs = []; // in emission order
  const usedNames = new Set([name, ...RESERVED_TYPES]);
  const commonDefs = new Map();
  for (const cs of json.commonStructs ?? []) commonDefs.set(cs.name, cs);
  const commonStructs = new Map(); // schema name -> struct (built lazily, once)

  function uniqueName(wanted) {
    let n = wanted;
    if (usedNames.has(n)) n = `${name}${wanted}`;
    for (let i = 2; usedNames.has(n); i++) n = `${wanted}${i}`;
    usedNames.add(n);
    return n;
  }

  function makeStruct(schemaName, fieldsJson, ctx, path, isTop) {
    const st = {
      schemaName,
      tsName: isTop ? name : uniqueName(schemaName),
      ctx,
      fields: [],
      path,
      isTop,
    };
    structs.push(st);
    const seenProps = new Set();
    for (const fj of fieldsJson ?? []) {
      const f = buildField(fj, ctx, `${path}.${fj.name}`);
      if (seenProps.has(f.prop)) throw new Error(`${where}: duplicate field ${f.prop} in ${path}`);
      seenProps.add(f.prop);
      st.fields.push(f);
    }
    return st;
  }

  function buildField(fj, ctx, path) {
    const versions = parseVersions(fj.versions, `${where} ${path} versions`);
    const present = intersect(versions, ctx);
    const tagged = fj.tag !== undefined;
    const taggedVersions = tagged ? parseVersions(fj.taggedVersions ?? fj.versions, `${where} ${path} taggedVersions`) : null;
    if (tagged && taggedVersions === null) throw new Error(`${where}: ${path} has a tag but no taggedVersions`);
    const f = {
      name: fj.name,
      prop: camel(fj.name),
      local: localName(camel(fj.name)),
      about: fj.about ?? '',
      versions,
      present,
      nullable: parseVersions(fj.nullableVersions, `${where} ${path} nullableVersions`),
      flex: fj.flexibleVersions !== undefined ? parseVersions(fj.flexibleVersions, `${where} ${path} flexibleVersions`) : flex,
      tag: tagged ? fj.tag : undefined,
      taggedVersions: tagged ? intersect(taggedVersions, present) : null,
      untagged: tagged ? subtractOpen(present, taggedVersions) : present,
      defaultJson: fj.default,
      hasDefault: fj.default !== undefined,
      isArray: false,
      elem: null, // primitive type name or struct
      struct: null,
    };
    let t = fj.type;
    if (t.startsWith('[]')) {
      f.isArray = true;
      t = t.slice(2);
    }
    if (PRIMITIVES.has(t)) {
      f.elem = t;
      if (fj.fields) throw new Error(`${where}: ${path} is ${fj.type} but has fields`);
    } else {
      f.elem = 'struct';
      if (fj.fields) {
        f.struct = makeStruct(t, fj.fields, present ?? { min: ctx.min, max: ctx.min }, path, false);
      } else if (commonDefs.has(t)) {
        f.struct = commonStruct(t);
      } else {
        const prior = structs.find((s) => s.schemaName === t && !s.isTop);
        if (!prior) throw new Error(`${where}: ${path} refers to unknown struct ${t}`);
        f.struct = prior;
      }
    }
    return f;
  }

  function commonStruct(t) {
    let st = commonStructs.get(t);
    if (st) return st;
    const def = commonDefs.get(t);
    const ctx = intersect(parseVersions(def.versions ?? '0+', `${where} ${t} versions`), valid) ?? valid;
    st = makeStruct(t, def.fields, ctx, t, false);
    commonStructs.set(t, st);
    return st;
  }

  const top = makeStruct(name, json.fields, valid, name, true);
  // Common structs nobody references are still part of the message's vocabulary.
  for (const t of [...commonDefs.keys()].sort()) commonStruct(t);
  // A field's local must not shadow a generated function of the same file.
  const fnNames = new Set();
  for (const st of structs) for (const p of ['read', 'write', 'default', 'isDefault']) fnNames.add(p + st.tsName);
  for (const st of structs) for (const f of st.fields) if (fnNames.has(f.local)) f.local += '_';

  // Which structs (transitively) hold a records field: their interfaces take a type parameter
  // so the same shape describes what is read (Buffer | null) and what may be written (chunks).
  const hasRecords = new Map();
  function recordsIn(st, seen = new Set()) {
    if (hasRecords.has(st)) return hasRecords.get(st);
    if (seen.has(st)) return false;
    seen.add(st);
    const v = st.fields.some((f) => f.elem === 'records' || (f.struct !== null && recordsIn(f.struct, seen)));
    hasRecords.set(st, v);
    return v;
  }
  for (const st of structs) st.records = recordsIn(st);

  return {
    file,
    name,
    type: json.type,
    apiKey: json.apiKey,
    valid,
    flex,
    listeners: json.listeners ?? [],
    latestVersionUnstable: json.latestVersionUnstable === true,
    top,
    structs,
  };
}

// ---- TypeScript types and defaults -------------------------------------------------------

function structRef(st, param) {
  return st.records ? `${st.tsName}<${param}>` : st.tsName;
}

function isNullableAnywhere(f) {
  return intersect(f.nullable, f.present) !== null || f.defaultJson === 'null' || f.defaultJson === null;
}

function elemType(f, param) {
  switch (f.elem) {
    case 'bool':
      return 'boolean';
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'float64':
      return 'number';
    case 'int64':
      return 'bigint';
    case 'string':
    case 'uuid':
      return 'string';
    case 'bytes':
      return 'Buffer';
    case 'records':
      return param;
    case 'struct':
      return structRef(f.struct, param);
  }
  throw new Error(`unknown type ${f.elem}`);
}

/** The field's type in the interface (param: the records type parameter in scope). */
function fieldType(f, param = 'R') {
  if (!f.isArray && f.elem === 'records') return param; // R already includes null
  let t = elemType(f, param);
  if (f.isArray) t = `${t}[]`;
  return isNullableAnywhere(f) ? `${t} | null` : t;
}

function parseIntDefault(v, f) {
  const s = String(v).trim();
  const neg = s.startsWith('-');
  const body = neg ? s.slice(1) : s;
  let n;
  if (/^0x[0-9a-f]+$/i.test(body)) n = BigInt(body);
  else if (/^\d+$/.test(body)) n = BigInt(body);
  else throw new Error(`bad integer default ${JSON.stringify(v)} for ${f.name}`);
  return neg ? -n : n;
}

/** The default value of a field as code. */
function defaultExpr(f, need) {
  const d = f.defaultJson;
  if (d === 'null' || d === null) {
    return 'null';
  }
  if (f.isArray) return '[]';
  switch (f.elem) {
    case 'bool':
      return d === undefined ? 'false' : String(d === true || d === 'true');
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
      return d === undefined ? '0' : String(parseIntDefault(d, f));
    case 'int64':
      return d === undefined ? '0n' : `${parseIntDefault(d, f)}n`;
    case 'float64':
      return d === undefined ? '0' : String(Number(d));
    case 'string':
      return d === undefined ? "''" : quote(String(d));
    case 'uuid':
      need.imports.add('ZERO_UUID');
      return 'ZERO_UUID';
    case 'bytes':
      need.imports.add('EMPTY_BYTES');
      return 'EMPTY_BYTES';
    case 'records':
      return 'null';
    case 'struct':
      need.defaults.add(f.struct);
      return `default${f.struct.tsName}()`;
  }
  throw new Error(`no default for ${f.elem}`);
}

/** Code that is true when `x` (known not undefined) differs from the field's default. */
function differsExpr(f, x, need) {
  const d = defaultExpr(f, need);
  if (d === 'null') return `${x} !== null`;
  const nullable = isNullableAnywhere(f);
  const orNull = (e) => (nullable ? `(${x} === null || ${e})` : e);
  if (f.isArray) return orNull(`${x}.length !== 0`);
  switch (f.elem) {
    case 'bytes':
      return orNull(`${x}.length !== 0`);
    case 'struct':
      need.isDefaults.add(f.struct);
      return orNull(`!isDefault${f.struct.tsName}(${x})`);
    case 'float64':
      return `!Object.is(${x}, ${d})`;
    default:
      return `${x} !== ${d}`;
  }
}

function quote(s) {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function doc(text) {
  return text.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ').trim();
}

// ---- code emission helpers ---------------------------------------------------------------

class Code {
  constructor() {
    this.lines = [];
    this.depth = 0;
  }
  line(s = '') {
    this.lines.push(s === '' ? '' : '  '.repeat(this.depth) + s);
  }
  open(s) {
    this.line(s);
    this.depth++;
  }
  close(s = '}') {
    this.depth--;
    this.line(s);
  }
  toString() {
    return this.lines.join('\n');
  }
}

function pick(c, a, b) {
  if (c === 'true') return a;
  if (c === 'false') return b;
  if (a === b) return a;
  const paren = (e) => (e.includes(' ? ') ? `(${e})` : e);
  return `${c} ? ${paren(a)} : ${paren(b)}`;
}

/** if/else on a condition, folded away when it is constant. */
function branch(code, c, thenFn, elseFn) {
  if (c === 'true') return thenFn();
  if (c === 'false') return elseFn ? elseFn() : undefined;
  code.open(`if (${c}) {`);
  thenFn();
  if (elseFn) {
    code.close('} else {');
    code.depth++;
    elseFn();
  }
  code.close();
}

/**
 * Per-field flags, as code conditions over the versions in which the field is read or written
 * in the given position (range): is it compact, and may it be null?
 */
function flags(f, range, st, inTag) {
  const flexVar = (r) => {
    // The struct-level `flexible` local covers the common case; a field with its own
    // flexibleVersions gets its own comparison.
    const c = cond(f.flex, r);
    if (c === 'true' || c === 'false') return c;
    return f.flex === st.msgFlex ? 'flexible' : c;
  };
  return {
    flex: inTag ? 'true' : flexVar(range),
    nullable: cond(f.nullable, range),
  };
}

/** An array field's element, as a pseudo-field: same type, never null, no default. */
function elementOf(f) {
  return { ...f, isArray: true, nullable: null, defaultJson: undefined, hasDefault: false };
}

// ---- read --------------------------------------------------------------------------------

function readScalar(f, rd, fl, need) {
  const N = fl.nullable;
  const F = fl.flex;
  switch (f.elem) {
    case 'bool':
      return `${rd}.bool()`;
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'uint32':
    case 'int64':
    case 'float64':
    case 'uuid':
      return `${rd}.${f.elem}()`;
    case 'string':
      return pick(
        N,
        pick(F, `${rd}.compactNullableString()`, `${rd}.nullableString()`),
        pick(F, `${rd}.compactString()`, `${rd}.string()`),
      );
    case 'bytes':
      return pick(
        N,
        pick(F, `${rd}.compactNullableBytes()`, `${rd}.nullableBytes()`),
        pick(F, `${rd}.compactBytes()`, `${rd}.bytes()`),
      );
    case 'records':
      return `${rd}.records(${F})`;
    case 'struct': {
      const call = `read${f.struct.tsName}(${rd}, version)`;
      if (f.isArray) return call; // array elements are never null
      // presence marker: int8 in the body, uvarint inside a tagged field
      const marker = fl.inTag ? `${rd}.uvarint() === 0` : `${rd}.int8() < 0`;
      return pick(N, `${marker} ? null : ${call}`, call);
    }
  }
  throw new Error(`cannot read ${f.elem}`);
}

/** Emits statements that read field f (present in `range`) into the already declared local. */
function emitReadInto(code, f, target, rd, fl, need, inBlock = false) {
  if (!f.isArray) {
    code.line(`${target} = ${readScalar(f, rd, fl, need)};`);
    return;
  }
  const lenExpr = pick(
    fl.nullable,
    pick(fl.flex, `${rd}.compactNullableArrayLength()`, `${rd}.nullableArrayLength()`),
    pick(fl.flex, `${rd}.compactArrayLength()`, `${rd}.arrayLength()`),
  );
  const elem = readScalar(elementOf(f), rd, { ...fl, nullable: 'false' }, need);
  if (!inBlock) code.open('{');
  code.line(`const _n = ${lenExpr};`);
  const fill = () => {
    code.line(`const _a: ${elemType(f, 'Buffer | null')}[] = [];`);
    code.line(`for (let _i = 0; _i < _n; _i++) _a.push(${elem});`);
    code.line(`${target} = _a;`);
  };
  if (fl.nullable === 'false') fill();
  else {
    code.open('if (_n < 0) {');
    code.line(`${target} = null;`);
    code.close('} else {');
    code.depth++;
    fill();
    code.close();
  }
  if (!inBlock) code.close();
}

function emitRead(code, msg, st, need) {
  const ctx = st.ctx;
  const fnName = `read${st.tsName}`;
  code.open(`export function ${fnName}(r: Reader, version: number): ${st.tsName} {`);
  if (st.isTop) {
    code.open(`if (version < ${msg.valid.min} || version > ${msg.valid.max}) {`);
    code.line(`throw new ProtocolDecodeError(\`${st.tsName} version \${version} is not supported (${fmtRange(msg.valid)})\`);`);
    code.close();
    need.imports.add('ProtocolDecodeError');
  }
  const flexC = cond(msg.flex, ctx);
  if (flexC !== 'true' && flexC !== 'false') code.line(`const flexible = ${flexC};`);

  for (const f of st.fields) {
    const local = f.local;
    const type = fieldType(f, 'Buffer | null');
    const presentC = cond(f.untagged, ctx);
    const isTaggedSomewhere = f.taggedVersions !== null;
    if (!f.isArray && !isTaggedSomewhere) {
      // single expression: read it when present, else its default
      const fl = { ...flags(f, f.untagged ?? ctx, st, false), inTag: false };
      let e;
      if (presentC === 'false') e = defaultExpr(f, need);
      else if (presentC === 'true') e = readScalar(f, 'r', fl, need);
      else e = pick(presentC, readScalar(f, 'r', fl, need), defaultExpr(f, need));
      code.line(`const ${local}: ${type} = ${e};`);
      continue;
    }
    if (presentC === 'true') {
      code.line(`let ${local}: ${type};`);
    } else {
      code.line(`let ${local}: ${type} = ${defaultExpr(f, need)};`);
    }
    if (presentC !== 'false') {
      const fl = { ...flags(f, f.untagged, st, false), inTag: false };
      branch(code, presentC, () => emitReadInto(code, f, local, 'r', fl, need, presentC !== 'true'));
    }
  }

  const tagged = st.fields.filter((f) => f.taggedVersions !== null).sort((a, b) => a.tag - b.tag);
  if (flexC !== 'false') {
    branch(code, flexC === 'true' ? 'true' : 'flexible', () => {
      if (tagged.length === 0) {
        code.line('r.skipTaggedFields();');
        return;
      }
      code.open('for (let _nt = r.uvarint(); _nt > 0; _nt--) {');
      code.line('const _tag = r.uvarint();');
      code.line('const _tr = r.taggedFieldReader();');
      code.open('switch (_tag) {');
      for (const f of tagged) {
        code.open(`case ${f.tag}:`);
        const c = cond(f.taggedVersions, ctx);
        const fl = { flex: 'true', nullable: cond(f.nullable, f.taggedVersions), inTag: true };
        branch(code, c, () => emitReadInto(code, f, f.local, '_tr', fl, need, c !== 'true'));
        code.line('break;');
        code.depth--;
      }
      code.line('default:');
      code.line('  break; // unknown tags are skipped');
      code.close();
      code.close();
    });
  }
  const props = st.fields.map((f) => (f.local === f.prop ? f.prop : `${f.prop}: ${f.local}`));
  code.line(`return { ${props.join(', ')} };`);
  code.close();
}

// ---- write -------------------------------------------------------------------------------

function writeScalarStmt(code, f, x, wr, fl, need, where) {
  const N = fl.nullable;
  const F = fl.flex;
  const nonNull = (stmtFn) => {
    // a value that may be null in the type but not in this version: refuse it
    if (!isNullableAnywhere(f) || N === 'true') return stmtFn();
    need.imports.add('encodeError');
    code.line(`if (${x} === null) throw encodeError(\`${where} is null but not nullable in version \${version}\`);`);
    return stmtFn();
  };
  const flexStmt = (a, b) => {
    if (F === 'true') code.line(a);
    else if (F === 'false') code.line(b);
    else {
      code.line(`if (${F}) ${a}`);
      code.line(`else ${b}`);
    }
  };
  switch (f.elem) {
    case 'bool':
      code.line(`${wr}.writeBool(${x});`);
      return;
    case 'int8':
      code.line(`${wr}.writeInt8(${x});`);
      return;
    case 'int16':
      code.line(`${wr}.writeInt16(${x});`);
      return;
    case 'uint16':
      code.line(`${wr}.writeUInt16(${x});`);
      return;
    case 'int32':
      code.line(`${wr}.writeInt32(${x});`);
      return;
    case 'uint32':
      code.line(`${wr}.writeUInt32(${x});`);
      return;
    case 'int64':
      code.line(`${wr}.writeInt64(${x});`);
      return;
    case 'float64':
      code.line(`${wr}.writeFloat64(${x});`);
      return;
    case 'uuid':
      code.line(`${wr}.writeUuid(${x});`);
      return;
    case 'string':
    case 'bytes': {
      const T = f.elem === 'string' ? 'String' : 'Bytes';
      const nullW = () => flexStmt(`${wr}.writeCompactNullable${T}(${x});`, `${wr}.writeNullable${T}(${x});`);
      const plainW = () => nonNull(() => flexStmt(`${wr}.writeCompact${T}(${x});`, `${wr}.write${T}(${x});`));
      if (N === 'true') nullW();
      else if (N === 'false') plainW();
      else branch(code, N, nullW, plainW);
      return;
    }
    case 'records':
      code.line(`${wr}.writeRecords(${x}, ${F});`);
      return;
    case 'struct': {
      const call = `write${f.struct.tsName}(${wr}, version, ${x});`;
      if (f.isArray) {
        code.line(call);
        return;
      }
      const withMarker = () => {
        const [nul, one] = fl.inTag ? [`${wr}.writeUVarint(0);`, `${wr}.writeUVarint(1);`] : [`${wr}.writeInt8(-1);`, `${wr}.writeInt8(1);`];
        code.open(`if (${x} === null) {`);
        code.line(nul);
        code.close('} else {');
        code.depth++;
        code.line(one);
        code.line(call);
        code.close();
      };
      const plain = () => nonNull(() => code.line(call));
      if (N === 'true') withMarker();
      else if (N === 'false') plain();
      else branch(code, N, withMarker, plain);
      return;
    }
  }
  throw new Error(`cannot write ${f.elem}`);
}

function emitWriteValue(code, f, x, wr, fl, need, where) {
  if (!f.isArray) {
    writeScalarStmt(code, f, x, wr, fl, need, where);
    return;
  }
  const lenStmt = (n) => {
    if (fl.flex === 'true') code.line(`${wr}.writeCompactArrayLength(${n});`);
    else if (fl.flex === 'false') code.line(`${wr}.writeArrayLength(${n});`);
    else {
      code.line(`if (${fl.flex}) ${wr}.writeCompactArrayLength(${n});`);
      code.line(`else ${wr}.writeArrayLength(${n});`);
    }
  };
  const elemFl = { ...fl, nullable: 'false' };
  const body = () => {
    lenStmt(`${x}.length`);
    code.open(`for (let _i = 0; _i < ${x}.length; _i++) {`);
    writeScalarStmt(code, elementOf(f), `${x}[_i]`, wr, elemFl, need, where);
    code.close();
  };
  if (!isNullableAnywhere(f)) {
    body();
    return;
  }
  code.open(`if (${x} === null) {`);
  if (fl.nullable === 'true') lenStmt('-1');
  else if (fl.nullable === 'false') {
    need.imports.add('encodeError');
    code.line(`throw encodeError(\`${where} is null but not nullable in version \${version}\`);`);
  } else {
    need.imports.add('encodeError');
    code.open(`if (${fl.nullable}) {`);
    lenStmt('-1');
    code.close('} else {');
    code.depth++;
    code.line(`throw encodeError(\`${where} is null but not nullable in version \${version}\`);`);
    code.close();
  }
  code.close('} else {');
  code.depth++;
  body();
  code.close();
}

/** Code for the value of m.<prop>, with undefined read as the default for optional fields. */
function valueExpr(f, optional, need) {
  const acc = `m.${f.prop}`;
  return optional ? `(${acc} === undefined ? ${defaultExpr(f, need)} : ${acc})` : acc;
}

function isOptional(f, st) {
  return !covers(f.present, st.ctx) || f.taggedVersions !== null || f.hasDefault;
}

function emitWrite(code, msg, st, need) {
  const ctx = st.ctx;
  const param = st.records ? `${st.tsName}<RecordsInput>` : st.tsName;
  if (st.records) need.writerImports.add('RecordsInput');
  code.open(`export function write${st.tsName}(w: Writer, version: number, m: ${param}): void {`);
  if (st.isTop) {
    need.imports.add('encodeError');
    code.open(`if (version < ${msg.valid.min} || version > ${msg.valid.max}) {`);
    code.line(`throw encodeError(\`${st.tsName} version \${version} is not supported (${fmtRange(msg.valid)})\`);`);
    code.close();
  }
  const flexC = cond(msg.flex, ctx);
  if (flexC !== 'true' && flexC !== 'false') code.line(`const flexible = ${flexC};`);

  for (const f of st.fields) {
    const presentC = cond(f.untagged, ctx);
    if (presentC === 'false') continue;
    const optional = isOptional(f, st);
    const fl = { ...flags(f, f.untagged, st, false), inTag: false };
    const where = `${st.tsName}.${f.prop}`;
    branch(code, presentC, () => {
      const simple = !optional && !f.isArray && !(f.elem === 'struct' && isNullableAnywhere(f)) && !(isNullableAnywhere(f) && fl.nullable !== 'true');
      if (simple) {
        emitWriteValue(code, f, `m.${f.prop}`, 'w', fl, need, where);
      } else {
        // an if-branch is already a block; an unconditional field gets one for its locals
        if (presentC === 'true') code.open('{');
        code.line(`const _v = ${valueExpr(f, optional, need)};`);
        emitWriteValue(code, f, '_v', 'w', fl, need, where);
        if (presentC === 'true') code.close();
      }
    });
  }

  const tagged = st.fields.filter((f) => f.taggedVersions !== null).sort((a, b) => a.tag - b.tag);
  if (flexC !== 'false') {
    branch(code, flexC === 'true' ? 'true' : 'flexible', () => {
      if (tagged.length === 0) {
        code.line('w.writeEmptyTaggedFields();');
        return;
      }
      // Count first: the section starts with the number of fields that follow.
      code.line('let _nTagged = 0;');
      tagged.forEach((f, i) => {
        const c = cond(f.taggedVersions, ctx);
        code.line(`const _t${i} = m.${f.prop};`);
        const differs = differsExpr(f, `_t${i}`, need);
        const guard = c === 'true' ? '' : `${c} && `;
        code.line(`const _has${i} = ${guard}_t${i} !== undefined && ${differs};`);
        code.line(`if (_has${i}) _nTagged++;`);
      });
      code.line('w.writeUVarint(_nTagged);');
      tagged.forEach((f, i) => {
        code.open(`if (_has${i} && _t${i} !== undefined) {`);
        code.line('const _tw = new Writer(64);');
        const fl = { flex: 'true', nullable: cond(f.nullable, f.taggedVersions), inTag: true };
        emitWriteValue(code, f, `_t${i}`, '_tw', fl, need, `${st.tsName}.${f.prop}`);
        code.line(`w.writeTaggedField(${f.tag}, _tw);`);
        code.close();
      });
    });
  }
  code.close();
}

// ---- interfaces, defaults ----------------------------------------------------------------

function emitInterface(code, msg, st) {
  const what = msg.type === 'data' ? 'Data message (no api key; serialised after an int16 version)' : `${msg.type === 'request' ? 'Request' : 'Response'} of API key ${msg.apiKey}`;
  const about = st.isTop ? `${what}, versions ${fmtRange(msg.valid)}${msg.flex ? `, flexible ${fmtRange(msg.flex)}` : ''}.` : null;
  if (about) code.line(`/** ${about} */`);
  const tp = st.records ? '<R extends RecordsInput = Buffer | null>' : '';
  code.open(`export interface ${st.tsName}${tp} {`);
  for (const f of st.fields) {
    const notes = [`versions ${fmtRange(f.present)}`];
    if (f.taggedVersions) notes.push(`tagged ${f.tag} in ${fmtRange(f.taggedVersions)}`);
    const nv = intersect(f.nullable, f.present);
    if (nv) notes.push(`nullable ${fmtRange(nv)}`);
    if (f.hasDefault) notes.push(`default ${JSON.stringify(f.defaultJson)}`);
    const text = doc(`${f.about}${f.about && !/[.!?]$/.test(f.about.trim()) ? '.' : ''} (${notes.join('; ')})`);
    code.line(`/** ${text} */`);
    code.line(`${f.prop}${isOptional(f, st) ? '?' : ''}: ${fieldType(f, 'R')};`);
  }
  code.close();
}

function emitDefault(code, st, need) {
  code.open(`function default${st.tsName}(): ${st.tsName} {`);
  const props = st.fields.map((f) => `${f.prop}: ${defaultExpr(f, need)}`);
  code.line(`return { ${props.join(', ')} };`);
  code.close();
}

function emitIsDefault(code, st, need) {
  const param = st.records ? `${st.tsName}<RecordsInput>` : st.tsName;
  if (st.records) need.writerImports.add('RecordsInput');
  code.open(`function isDefault${st.tsName}(s: ${param}): boolean {`);
  if (st.fields.length === 0) code.line('return true;');
  else {
    const parts = st.fields.map((f) => {
      const acc = `s.${f.prop}`;
      return `(${acc} === undefined || !(${differsExpr(f, acc, need)}))`;
    });
    code.line(`return (\n${parts.map((p) => `${'  '.repeat(code.depth + 1)}${p}`).join(' &&\n')}\n${'  '.repeat(code.depth)});`);
  }
  code.close();
}

// ---- files -------------------------------------------------------------------------------

const HEADER = (src) =>
  `// Generated by scripts/gen-protocol.mjs from Kafka's ${src}. Do not edit: run \`npm run gen\`.\n` +
  '/* eslint-disable */\n';

function generateMessage(msg) {
  const need = {
    imports: new Set(),
    writerImports: new Set(),
    defaults: new Set(),
    isDefaults: new Set(),
  };
  for (const st of msg.structs) st.msgFlex = msg.flex;

  const types = new Code();
  for (const st of msg.structs) {
    emitInterface(types, msg, st);
    types.line();
  }
  const reads = new Code();
  for (const st of msg.structs) {
    emitRead(reads, msg, st, need);
    reads.line();
  }
  const writes = new Code();
  for (const st of msg.structs) {
    emitWrite(writes, msg, st, need);
    writes.line();
  }
  // defaults and default-tests may pull in further structs: iterate to a fixed point
  const helpers = new Code();
  const doneD = new Set();
  const doneI = new Set();
  for (;;) {
    const d = msg.structs.find((s) => need.defaults.has(s) && !doneD.has(s));
    const i = msg.structs.find((s) => need.isDefaults.has(s) && !doneI.has(s));
    if (!d && !i) break;
    if (d) {
      doneD.add(d);
      emitDefault(helpers, d, need);
      helpers.line();
    }
    if (i) {
      doneI.add(i);
      emitIsDefault(helpers, i, need);
      helpers.line();
    }
  }

  const readerNames = ['Reader', ...['ProtocolDecodeError', 'ZERO_UUID', 'EMPTY_BYTES'].filter((n) => need.imports.has(n))];
  const writerNames = ['Writer', ...['encodeError'].filter((n) => need.imports.has(n))];
  const writerTypes = [...need.writerImports].sort();
  const anyRecords = msg.structs.some((s) => s.records);
  if (anyRecords && !writerTypes.includes('RecordsInput')) writerTypes.push('RecordsInput');

  let out = HEADER(msg.file);
  out += `import { ${readerNames.join(', ')} } from '../reader';\n`;
  out += `import { ${writerNames.join(', ')} } from '../writer';\n`;
  if (writerTypes.length) out += `import type { ${writerTypes.join(', ')} } from '../writer';\n`;
  out += '\n';
  out += [types, reads, writes, helpers].map((c) => c.toString().replace(/\n+$/, '')).filter((t) => t).join('\n\n');
  out += '\n';
  return out.replace(/\n+$/, '\n');
}

function generateIndex(msgs) {
  const byKey = new Map();
  for (const m of msgs) {
    if (m.type === 'data') continue; // not an API: imported from its own module
    if (typeof m.apiKey !== 'number') throw new Error(`${m.file}: no apiKey`);
    const e = byKey.get(m.apiKey) ?? {};
    if (e[m.type]) throw new Error(`two ${m.type}s for api key ${m.apiKey}`);
    e[m.type] = m;
    byKey.set(m.apiKey, e);
  }
  const keys = [...byKey.keys()].sort((a, b) => a - b);
  let out = HEADER('message schemas (the api key table)');
  out += "import type { Reader } from '../reader';\n";
  out += "import type { Writer } from '../writer';\n";
  const rows = [];
  const apiKeyLines = [];
  for (const k of keys) {
    const { request, response } = byKey.get(k);
    if (!request || !response) throw new Error(`api key ${k} lacks a request or a response schema`);
    const api = request.name.replace(/Request$/, '');
    if (response.name !== `${api}Response`) throw new Error(`api key ${k}: ${request.name} vs ${response.name}`);
    if (request.valid.min !== response.valid.min || request.valid.max !== response.valid.max) {
      throw new Error(`api key ${k}: request and response validVersions differ`);
    }
    out += `import { read${request.name}, write${request.name} } from './${request.name}';\n`;
    out += `import { read${response.name}, write${response.name} } from './${response.name}';\n`;
    apiKeyLines.push(`  ${api}: ${k},`);
    rows.push(
      [
        '  {',
        `    apiKey: ${k},`,
        `    name: '${api}',`,
        `    minVersion: ${request.valid.min},`,
        `    maxVersion: ${request.valid.max},`,
        `    flexibleMin: ${request.flex ? request.flex.min : 'Infinity'},`,
        `    latestVersionUnstable: ${request.latestVersionUnstable},`,
        `    listeners: [${request.listeners.map((l) => `'${l}'`).join(', ')}],`,
        `    readRequest: read${request.name},`,
        `    writeRequest: write${request.name},`,
        `    readResponse: read${response.name},`,
        `    writeResponse: write${response.name},`,
        '  },',
      ].join('\n'),
    );
  }
  out += `
/** Kafka's API keys by name (from the schemas' apiKey and name). */
export const ApiKey = {
${apiKeyLines.join('\n')}
} as const;

export type ApiName = keyof typeof ApiKey;

/** What the codec layer knows about one API: its versions and its four codecs. */
export interface ApiMessages {
  apiKey: number;
  /** Kafka's name without Request/Response, e.g. 'Produce'. */
  name: string;
  minVersion: number;
  maxVersion: number;
  /** First flexible version (compact encodings, tagged fields, request header v2); Infinity when none. */
  flexibleMin: number;
  /** Kafka marks the highest version as still in development; brokers should not advertise it. */
  latestVersionUnstable: boolean;
  /** Which Kafka listeners serve the API ('broker', 'controller', 'zkBroker'). */
  listeners: readonly string[];
  readRequest(r: Reader, v: number): any;
  writeRequest(w: Writer, v: number, m: any): void;
  readResponse(r: Reader, v: number): any;
  writeResponse(w: Writer, v: number, m: any): void;
}

const TABLE: ApiMessages[] = [
${rows.join('\n')}
];

/** Every API the generated codecs cover, by api key. */
export const API_MESSAGES: ReadonlyMap<number, ApiMessages> = new Map(TABLE.map((a) => [a.apiKey, a]));

`;
  for (const k of keys) {
    const { request, response } = byKey.get(k);
    out += `export * as ${request.name} from './${request.name}';\n`;
    out += `export * as ${response.name} from './${response.name}';\n`;
  }
  return out;
}

function generateAll(schemaDir, strataSchemaDir) {
  const msgs = [...loadSchemas(schemaDir), ...(strataSchemaDir ? loadSchemas(strataSchemaDir) : [])].map(buildMessage);
  const files = new Map();
  for (const m of msgs) files.set(`${m.name}.ts`, generateMessage(m));
  files.set('index.ts', generateIndex(msgs));
  return files;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  let files;
  try {
    files = generateAll(opts.schemas, opts.strataSchemas);
  } catch (e) {
    fail(e.message);
  }
  const existing = existsSync(opts.out) ? readdirSync(opts.out).filter((f) => f.endsWith('.ts')) : [];
  const stale = existing.filter((f) => !files.has(f)).sort();
  if (opts.check) {
    const differ = [];
    for (const [name, text] of files) {
      const p = join(opts.out, name);
      if (!existsSync(p) || readFileSync(p, 'utf8') !== text) differ.push(name);
    }
    if (differ.length || stale.length) {
      const parts = [];
      if (differ.length) parts.push(`out of date or missing: ${differ.join(', ')}`);
      if (stale.length) parts.push(`not generated from any schema: ${stale.join(', ')}`);
      console.error(`gen-protocol --check: ${opts.out} differs from the schemas (${parts.join('; ')}). Run \`npm run gen\` and commit the result.`);
      process.exit(1);
    }
    console.log(`gen-protocol --check: ${files.size} files up to date`);
    return;
  }
  mkdirSync(opts.out, { recursive: true });
  let written = 0;
  for (const [name, text] of files) {
    const p = join(opts.out, name);
    if (existsSync(p) && readFileSync(p, 'utf8') === text) continue;
    writeFileSync(p, text);
    written++;
  }
  for (const f of stale) unlinkSync(join(opts.out, f));
  console.log(`gen-protocol: ${files.size} files (${written} written, ${stale.length} removed) in ${opts.out}`);
}

main();
