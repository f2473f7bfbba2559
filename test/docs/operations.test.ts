import * as fs from 'node:fs';
import * as path from 'node:path';
import { spliceOperationsReference } from '../../core/docs/operationsReference';
import { COMMANDS } from '../../core/cli/main';

const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');

test('docs/operations.md carries the current command and config reference (run `npm run docs`)', () => {
  expect(spliceOperationsReference(doc)).toBe(doc);
});

test('every flag of every command is documented', () => {
  for (const [, c] of COMMANDS) for (const f of c.spec.flags) expect(doc).toContain(`--${f.name}`);
});
