#!/usr/bin/env node
// check_bpmn.mjs FILE.bpmn... — read each diagram as bpmn-js does (bpmn-moddle) and lint it
// with bpmnlint's recommended rules. Prints one line per problem; exit 1 if there is any.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Linter } = require('bpmnlint');
const NodeResolver = require('bpmnlint/lib/resolver/node-resolver');
const { BpmnModdle } = await import('bpmn-moddle');

let problems = 0;
for (const file of process.argv.slice(2)) {
  const { rootElement, warnings } = await new BpmnModdle().fromXML(await readFile(file, 'utf8'));
  for (const warning of warnings) {
    console.log(`${file}: import: ${String(warning.message).split('\n')[0]}`);
    problems++;
  }
  // a new Linter per file: rule instances keep state between runs
  const linter = new Linter({ config: { extends: 'bpmnlint:recommended' },
                              resolver: new NodeResolver({ require }) });
  for (const [rule, reports] of Object.entries(await linter.lint(rootElement))) {
    for (const report of reports) {
      console.log(`${file}: ${report.category} ${rule} ${report.id || '-'}: ${report.message}`);
      problems++;
    }
  }
}
console.log(`${problems} problem(s)`);
process.exit(problems ? 1 : 0);
