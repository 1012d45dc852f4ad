// crypto-wasm/prune-table.mjs (run by scripts/build-wasm.sh) on small hand-written modules in
// binaryen's text format: which table slots it points at the trap, and when it refuses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './wasm.mjs';

const SCRIPT = path.join(ROOT, 'crypto-wasm', 'prune-table.mjs');

/** Runs the pruner on `wat`; returns its output text and what it printed. */
function prune(wat) {
  const dir = mkdtempSync(path.join(tmpdir(), 'prune-table-'));
  try {
    writeFileSync(path.join(dir, 'in.wat'), wat);
    const log = execFileSync('node', [SCRIPT, path.join(dir, 'in.wat'), path.join(dir, 'out.wat')], {
      encoding: 'utf8',
    });
    return { out: readFileSync(path.join(dir, 'out.wat'), 'utf8'), log };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const elem = (wat) => wat.match(/^ \(elem [^\n]*$/m)[0];

// $main (exported) calls $helper directly and makes a call_indirect of type (i32) -> ().
// Slots: $one_arg (i32) -> () is reachable by that type. $two_args (i32 i32) -> () is not; it
// makes a call_indirect of type (i32 i32 i32) -> (), which must not count because $two_args
// itself is dead, so $three_args is dead too. $helper has a dead type but is called directly.
const MODULE = `(module
 (type $i32_=>_none (func (param i32)))
 (type $i32_i32_i32_=>_none (func (param i32 i32 i32)))
 (import "env" "log" (func $log (param i32)))
 (table $0 5 5 funcref)
 (elem (i32.const 1) $one_arg $two_args $three_args $helper)
 (export "main" (func $main))
 (func $main (param $0 i32)
  (call $helper
   (local.get $0)
   (local.get $0)
  )
  (call_indirect $0 (type $i32_=>_none)
   (local.get $0)
   (local.get $0)
  )
 )
 (func $one_arg (param $0 i32)
  (call $log
   (local.get $0)
  )
 )
 (func $two_args (param $0 i32) (param $1 i32)
  (call_indirect $0 (type $i32_i32_i32_=>_none)
   (local.get $0)
   (local.get $1)
   (local.get $0)
   (local.get $1)
  )
 )
 (func $three_args (param $0 i32) (param $1 i32) (param $2 i32)
  (nop)
 )
 (func $helper (param $0 i32) (param $1 i32)
  (nop)
 )
)
`;

test('slots whose type no reachable call_indirect uses point at the trap; the rest stay', () => {
  const { out, log } = prune(MODULE);
  assert.match(log, /2 of 4 table slots can never be called/);
  assert.equal(
    elem(out),
    ' (elem (i32.const 1) $one_arg $__pruned_table_slot $__pruned_table_slot $helper)',
  );
  assert.match(out, /\(func \$__pruned_table_slot\n {2}\(unreachable\)\n \)\n\)\n$/);
  // Nothing else changed: the functions are still there for wasm-opt to drop.
  assert.equal(out.replace(elem(out), elem(MODULE)).replace(/\n \(func \$__pruned_table_slot[^]*?\n \)(?=\n\)\n$)/, ''), MODULE);
});

test('refuses when the table is used other than by call_indirect, or is exported', () => {
  for (const [wat, reason] of [
    [MODULE.replace('  (nop)\n', '  (drop\n   (table.size $0)\n  )\n'), /used other than by call_indirect/],
    [MODULE.replace(' (export "main"', ' (export "t" (table $0))\n (export "main"'), /imported or exported/],
    [MODULE.replace('(call_indirect $0 (type $i32_=>_none)', '(call_indirect $0 $weird'), /unexpected form/],
  ]) {
    const { out, log } = prune(wat);
    assert.match(log, reason);
    assert.equal(out, wat);
  }
});
