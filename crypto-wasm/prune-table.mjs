// Closed-world pruning of the function table, run by scripts/build-wasm.sh between two wasm-opt
// passes (binaryen 108 keeps every table entry once anything uses the table):
//
//   node crypto-wasm/prune-table.mjs in.wat out.wat     (binaryen text, from wasm-dis)
//
// Why: js-sys's `__wbindgen_describe_*` exports take the address of a closure "invoke" shim for
// every closure type they describe, so the linker puts ~40 of those shims in the table. The
// wasm-bindgen CLI deletes the describe functions afterwards but not the table entries, which keep
// ~3 KiB of dead code alive (BENCHMARKS.md, wasm section).
//
// Rule: a table slot can only be reached by `call_indirect`, and `call_indirect` traps unless the
// slot's function has exactly the call's type. Starting from the exports and the start function,
// follow direct calls; add every slot whose function type matches a `call_indirect` type seen in
// reachable code; repeat until nothing changes. Every other slot can never be called
// successfully, so it is pointed at one function that traps (`unreachable`); slot numbers, and
// therefore every function pointer in memory, stay as they were. wasm-opt then drops the dead
// functions. The pass refuses (copies the input unchanged) if the table is imported or exported,
// or if anything but `call_indirect` touches it (`table.*`, `elem.drop`, `ref.func`).

import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node prune-table.mjs in.wat out.wat');
  process.exit(2);
}
const text = readFileSync(input, 'utf8');

function keep(reason) {
  writeFileSync(output, text);
  console.log(`prune-table: table left as is (${reason})`);
  process.exit(0);
}

if (/\((?:import|export) [^\n]*\(table\b/.test(text)) keep('the table is imported or exported');
if (/\b(?:table\.(?:get|set|grow|size|fill|copy|init)|elem\.drop|ref\.func)\b/.test(text)) {
  keep('the table is used other than by call_indirect');
}

const VALUE_TYPES = new Set(['i32', 'i64', 'f32', 'f64', 'v128', 'funcref', 'externref']);

/** `i32 i32 => i32` from the `(param …)` / `(result …)` groups of a header. */
function signature(header) {
  const params = [];
  const results = [];
  for (const [, kind, body] of header.matchAll(/\((param|result)((?:\s+[^\s()]+)*)\)/g)) {
    const types = body.trim().split(/\s+/).filter((t) => VALUE_TYPES.has(t));
    (kind === 'param' ? params : results).push(...types);
  }
  return `${params.join(' ')} => ${results.join(' ')}`;
}

const types = new Map(); // type name -> signature
for (const [, name, rest] of text.matchAll(/^ \(type \$(\S+) \(func(.*)\)\)$/gm)) {
  types.set(name, signature(rest));
}
const sigOf = (header) => {
  const named = header.match(/\(type \$([^\s)]+)\)/);
  return named ? types.get(named[1]) : signature(header);
};

const funcSig = new Map(); // function name -> signature
const bodies = new Map(); // function name -> body text
for (const [, name, rest] of text.matchAll(/^ \(import "[^"]*" "[^"]*" \(func \$(\S+)(.*)\)\)$/gm)) {
  funcSig.set(name, sigOf(rest));
}
const lines = text.split('\n');
let current = null;
let body = [];
const flush = () => {
  if (current !== null) bodies.set(current, body.join('\n'));
};
for (const line of lines) {
  if (line.startsWith(' (')) {
    flush();
    current = null;
    const func = line.match(/^ \(func \$(\S+)(.*)$/);
    if (func) {
      current = func[1];
      funcSig.set(current, sigOf(func[2]));
      body = [];
    }
  } else if (current !== null) {
    body.push(line);
  }
}
flush();

const segments = [...text.matchAll(/^ \(elem [^\n]*$/gm)].map((m) => m[0]);
if (segments.length === 0) keep('no element segment');
// Only the plain form binaryen prints for an active segment of the one table.
if (!segments.every((s) => /^ \(elem \(i32\.const \d+\)(?: \$[^\s()]+)*\)$/.test(s))) {
  keep('an element segment of another form');
}
const slots = new Set();
for (const segment of segments) {
  for (const [, name] of segment.matchAll(/\s\$([^\s)]+)/g)) {
    if (funcSig.has(name)) slots.add(name);
  }
}

const roots = [...text.matchAll(/\(export "[^"]*" \(func \$([^\s)]+)\)\)/g)].map((m) => m[1]);
for (const [, name] of text.matchAll(/^ \(start \$([^\s)]+)\)/gm)) roots.push(name);

// Every call_indirect must be one the scan below understands, or nothing is pruned.
const indirectCalls = (text.match(/\bcall_indirect\b/g) ?? []).length;
const understood = (text.match(/\((?:return_)?call_indirect (?:\$\S+ )?\(type \$[^\s)]+\)/g) ?? []).length;
if (indirectCalls !== understood) keep('a call_indirect of an unexpected form');

const live = new Set();
const indirectTypes = new Set();
const work = [...roots];
for (;;) {
  while (work.length > 0) {
    const name = work.pop();
    if (live.has(name)) continue;
    live.add(name);
    const code = bodies.get(name) ?? '';
    for (const [, callee] of code.matchAll(/\((?:return_)?call \$([^\s)]+)/g)) work.push(callee);
    for (const [, type] of code.matchAll(/\((?:return_)?call_indirect (?:\$\S+ )?\(type \$([^\s)]+)\)/g)) {
      if (!types.has(type)) keep(`unknown call_indirect type ${type}`);
      indirectTypes.add(types.get(type));
    }
  }
  for (const slot of slots) {
    if (!live.has(slot) && indirectTypes.has(funcSig.get(slot))) work.push(slot);
  }
  if (work.length === 0) break;
}

const dead = new Set([...slots].filter((slot) => !live.has(slot)));
if (dead.size === 0) keep('every slot is reachable');
const STUB = '__pruned_table_slot';
if (funcSig.has(STUB)) keep(`a function is already called ${STUB}`);
let pruned = text;
for (const segment of segments) {
  const replaced = segment.replace(/(\s)\$([^\s)]+)/g, (all, space, name) =>
    dead.has(name) ? `${space}$${STUB}` : all,
  );
  pruned = pruned.replace(segment, () => replaced);
}
const end = pruned.lastIndexOf('\n)');
if (end < 0) keep('no module end');
pruned = `${pruned.slice(0, end)}\n (func $${STUB}\n  (unreachable)\n )${pruned.slice(end)}`;
writeFileSync(output, pruned);
console.log(`prune-table: ${dead.size} of ${slots.size} table slots can never be called; pointed at a trap`);
