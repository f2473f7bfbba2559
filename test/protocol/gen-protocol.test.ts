import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, appendFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

/** Tests of scripts/gen-protocol.mjs as a command: drift check, determinism, schema rules. */

const REPO = resolve(__dirname, '..', '..');
const SCRIPT = join(REPO, 'scripts', 'gen-protocol.mjs');
const COMMITTED = join(REPO, 'core', 'protocol', 'generated');

function gen(...args: string[]) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', timeout: 60_000 });
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'strata-gen-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('gen-protocol', () => {
  it('--check passes on the committed output', () => {
    const res = gen('--check');
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
  });

  it('regenerates exactly the committed files (deterministic output)', () => {
    const out = join(tmp, 'out');
    const res = gen('--out', out);
    expect(res.status).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toEqual(readdirSync(COMMITTED).filter((f) => f.endsWith('.ts')).sort());
    expect(files.length).toBeGreaterThan(170);
    for (const f of files) expect(readFileSync(join(out, f), 'utf8')).toBe(readFileSync(join(COMMITTED, f), 'utf8'));
  });

  it('--check fails naming files that drifted or are stale', () => {
    const out = join(tmp, 'out');
    cpSync(COMMITTED, out, { recursive: true });
    appendFileSync(join(out, 'FetchRequest.ts'), '// edited by hand\n');
    writeFileSync(join(out, 'Leftover.ts'), 'export {};\n');
    const res = gen('--check', '--out', out);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/out of date or missing: FetchRequest\.ts/);
    expect(res.stderr).toMatch(/not generated from any schema: Leftover\.ts/);
    // writing repairs both
    expect(gen('--out', out).status).toBe(0);
    expect(gen('--check', '--out', out).status).toBe(0);
  });

  it('rejects unknown arguments and missing schema directories', () => {
    expect(gen('--bogus').status).toBe(2);
    const res = gen('--schemas', join(tmp, 'nope'), '--out', join(tmp, 'out'));
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/not found/);
  });

  it('handles comments, name collisions and the field rules, and its output type-checks', () => {
    const schemas = join(tmp, 'schemas');
    mkdirSync(schemas);
    writeFileSync(
      join(schemas, 'TestThingRequest.json'),
      `// Licensed to nobody. A comment with "quotes" and // slashes.
{
  "apiKey": 900,
  "type": "request",
  "name": "TestThingRequest",
  // Version 1 adds Maybe; version 2 is flexible.
  "validVersions": "0-3",
  "flexibleVersions": "2+",
  "fields": [
    { "name": "Url", "type": "string", "versions": "0+",
      "about": "See https://example.com//path and \\"//quoted\\" // still text" },
    { "name": "Inner", "type": "[]Buffer", "versions": "0+", "about": "A struct named like a global.", "fields": [
      { "name": "Name", "type": "string", "versions": "0+", "about": "n" }
    ]},
    { "name": "Maybe", "type": "Opt", "versions": "1+", "nullableVersions": "1+", "default": "null", "about": "m", "fields": [
      { "name": "X", "type": "int32", "versions": "1+", "about": "x" }
    ]},
    { "name": "Part", "type": "string", "versions": "0+", "nullableVersions": "1+", "about": "p" }, // trailing comment
    { "name": "Default", "type": "int16", "versions": "0-2", "default": "0x10", "about": "d" },
    { "name": "Version", "type": "int8", "versions": "0+", "about": "v" },
    { "name": "Ids", "type": "[]uuid", "versions": "3", "about": "i" },
    { "name": "Tagged", "type": "int32", "versions": "2+", "taggedVersions": "2+", "tag": 5, "default": "7", "about": "t" },
    { "name": "Common", "type": "Shared", "versions": "0+", "about": "c" }
  ],
  "commonStructs": [
    { "name": "Shared", "versions": "0+", "fields": [
      { "name": "Flag", "type": "bool", "versions": "0+", "default": "true", "about": "f" }
    ]}
  ]
}
`,
    );
    writeFileSync(
      join(schemas, 'TestThingResponse.json'),
      '{ "apiKey": 900, "type": "response", "name": "TestThingResponse", "validVersions": "0-3", "flexibleVersions": "2+",\n' +
        '  "fields": [ { "name": "ErrorCode", "type": "int16", "versions": "0+" } ] }\n',
    );
    writeFileSync(join(schemas, 'SomeRecord.json'), '{ "type": "data", "name": "SomeRecord", "validVersions": "0", "fields": [] }\n');

    // Lay the output out like the repository so its relative imports resolve to the real modules.
    const root = join(tmp, 'root');
    mkdirSync(join(root, 'core', 'protocol'), { recursive: true });
    mkdirSync(join(root, 'core', 'common'), { recursive: true });
    for (const f of ['reader.ts', 'writer.ts', 'errorCodes.ts']) symlinkSync(join(REPO, 'core', 'protocol', f), join(root, 'core', 'protocol', f));
    for (const f of ['errors.ts', 'fileRegion.ts']) symlinkSync(join(REPO, 'core', 'common', f), join(root, 'core', 'common', f));
    const out = join(root, 'core', 'protocol', 'generated');
    const res = gen('--schemas', schemas, '--out', out);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['TestThingRequest.ts', 'TestThingResponse.ts', 'index.ts']); // data schemas skipped

    const src = readFileSync(join(out, 'TestThingRequest.ts'), 'utf8');
    expect(src).toContain('See https://example.com//path and "//quoted" // still text');
    expect(src).toContain('export interface TestThingRequestBuffer {'); // 'Buffer' would shadow the global
    expect(src).toContain('inner: TestThingRequestBuffer[];');
    expect(src).toContain('maybe?: Opt | null;');
    expect(src).toContain('part: string | null;');
    expect(src).toContain('default?: number;');
    expect(src).toContain('tagged?: number;');
    expect(src).toContain('ids?: string[];');
    expect(src).toContain('common: Shared;');
    expect(src).toContain('const default_: number = version <= 2 ? r.int16() : 16;');
    expect(src).toContain('const version_: number = r.int8();');
    expect(src).toContain('const maybe: Opt | null = version >= 1 ? (r.int8() < 0 ? null : readOpt(r, version)) : null;');
    expect(src).toContain("if (_v === null) throw encodeError(`TestThingRequest.part is null but not nullable in version ${version}`);");
    expect(src).not.toContain('function defaultShared'); // helpers only when used
    expect(src).toContain('case 5:');
    const index = readFileSync(join(out, 'index.ts'), 'utf8');
    expect(index).toContain('TestThing: 900,');

    const program = ts.createProgram([join(out, 'index.ts'), join(out, 'TestThingRequest.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.CommonJS,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      types: ['node'],
      typeRoots: [join(REPO, 'node_modules', '@types')],
      skipLibCheck: true,
    });
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diags).toEqual([]);
  });
});
