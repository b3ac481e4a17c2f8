// labspec's LaTeX validity checker: one long-lived Node.js process checks a whole batch.
// Reads one JSON string per line on stdin (a formula), writes one JSON line per input:
// {"ok": true} or {"ok": false, "error": "<KaTeX's ParseError message>"}.
// Started by runtime/formulas/katex.py; node's start-up (~0.5 s) is paid once per batch.
"use strict";
const katex = require("katex");
const readline = require("readline");

const options = { displayMode: true, throwOnError: true, strict: "ignore", trust: false };
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
rl.on("line", (line) => {
  let result;
  try {
    katex.renderToString(JSON.parse(line), options);
    result = { ok: true };
  } catch (err) {
    result = { ok: false, error: String(err && err.message ? err.message : err) };
  }
  process.stdout.write(JSON.stringify(result) + "\n");
});
