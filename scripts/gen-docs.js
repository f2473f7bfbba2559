#!/usr/bin/env node
// Rewrites the generated reference block of docs/operations.md from the built code (run `npm run build` first).
const fs = require('node:fs');
const path = require('node:path');
const { spliceOperationsReference } = require('../dist/core/docs/operationsReference');
const file = path.join(__dirname, '..', 'docs', 'operations.md');
const before = fs.readFileSync(file, 'utf8');
const after = spliceOperationsReference(before);
if (after !== before) fs.writeFileSync(file, after);
console.log(after === before ? 'docs/operations.md is up to date' : 'docs/operations.md rewritten');
