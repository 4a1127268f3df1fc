// Flurry's Node.js launcher, run by the action proxy as
//   node -e <this file> ENTRY MAIN
// in the action's directory. It loads ENTRY (main__.js for text code, the
// directory itself for a zip: package.json's "main" or index.js), picks
// the function MAIN, answers {"ok": true} on fd 3 (or {"error": ...} when
// loading failed, then exits), and then reads one activation per line on
// stdin and writes one JSON result per line on fd 3, the actionloop
// protocol. MAIN may be async or return a Promise.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const [entry, name] = process.argv.slice(1);

function reply(obj) {
  fs.writeSync(3, JSON.stringify(obj) + '\n');
}

// describe turns a load error into one message; a SyntaxError's stack
// starts with file:line, the line and a caret, which is what a developer needs.
function describe(e) {
  if (!(e instanceof Error)) return String(e);
  const stack = String(e.stack || '');
  const at = stack.indexOf('\n    at ');
  return at > 0 ? stack.slice(0, at).trim() : `${e.name}: ${e.message}`;
}

function load() {
  const mod = require(path.resolve(entry));
  if (mod && typeof mod.__flurryMain === 'function') return mod.__flurryMain;
  if (mod && typeof mod[name] === 'function') return mod[name];
  if (typeof mod === 'function' && name === 'main') return mod;
  if (typeof globalThis[name] === 'function') return globalThis[name];
  throw new Error(`the action has no function "${name}" in ${entry}`);
}

let fn;
try {
  fn = load();
} catch (e) {
  console.error(e);
  reply({ error: `cannot load the action: ${describe(e)}` });
  process.exit(1);
}
if (process.env.__OW_WAIT_FOR_ACK) reply({ ok: true });

async function handle(line) {
  const req = JSON.parse(line);
  for (const [k, v] of Object.entries(req)) {
    if (k !== 'value') process.env['__OW_' + k.toUpperCase()] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  if (!('api_key' in req)) delete process.env.__OW_API_KEY;
  const args = req.value && typeof req.value === 'object' && !Array.isArray(req.value) ? req.value : {};
  let text;
  try {
    let res = await fn(args);
    if (res === null || typeof res !== 'object' || Array.isArray(res)) {
      res = { error: 'The action did not return a dictionary.' };
    }
    text = JSON.stringify(res);
  } catch (e) {
    console.error(e);
    text = JSON.stringify({ error: e instanceof Error ? `${e.name}: ${e.message}` : e === undefined ? 'undefined' : e });
  }
  fs.writeSync(3, text + '\n');
}

(async () => {
  const rl = readline.createInterface({ input: process.stdin, terminal: false, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() !== '') await handle(line);
  }
  process.exit(0);
})();
