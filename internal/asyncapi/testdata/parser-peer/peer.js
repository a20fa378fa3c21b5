// Runs the official AsyncAPI parser (@asyncapi/parser) on each document named on the command
// line and prints one JSON array: [{file, valid, errors, channels}], for the Go agreement test.
// Only error diagnostics make a document invalid, as they do for the parser itself.
'use strict';
const fs = require('fs');
const { Parser, DiagnosticSeverity } = require('@asyncapi/parser');

async function parseOne(parser, file) {
  const text = fs.readFileSync(file, 'utf8');
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const errors = diagnostics
    .filter((d) => d.severity === DiagnosticSeverity.Error)
    .map((d) => ({ code: String(d.code), path: '/' + d.path.map(String).join('/'), message: d.message }));
  const channels = document ? document.channels().all().map((c) => c.address()) : [];
  return { file, valid: document !== undefined && errors.length === 0, errors, channels };
}

async function main() {
  const parser = new Parser();
  const out = [];
  for (const file of process.argv.slice(2)) out.push(await parseOne(parser, file));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
