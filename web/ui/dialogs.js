// The verification dialog (safety number of one peer) and the cryptography-checks dialog.

import { $, el, showError } from './dom.js';
import * as crypto from './crypto.js';
import { peerLabel } from './state.js';

let verifyPeerId = null;

/** The peer whose safety number is on screen, or null. */
export function verifyingPeer() {
  return $('verify-dialog').open ? verifyPeerId : null;
}

export function openVerify(state, peerId) {
  verifyPeerId = peerId;
  showError($('verify-error'), '');
  renderVerify(state);
  const dialog = $('verify-dialog');
  if (!dialog.open) dialog.showModal();
}

/** Fills the dialog for the current peer (also called when its state changes while open). */
export function renderVerify(state) {
  const peer = state.peers.get(verifyPeerId);
  if (!peer) return;
  const name = peerLabel(peer);
  $('verify-name').textContent = name;
  $('verify-name2').textContent = name;
  $('verify-their-key').textContent = peer.publicKey;
  const check = peer.check;
  $('verify-their-fp').textContent = check?.localFp || peer.daemonFp;
  $('verify-our-fp').textContent = state.ownCheck?.localFp || state.info?.fingerprint || '';

  const problems = [];
  if (!crypto.wasmReady()) problems.push('The WebAssembly module did not load, so this page cannot compute the safety number itself.');
  if (check?.error) problems.push(`Could not compute the safety number: ${check.error}`);
  if (check?.problems?.length) problems.push(`Warning: ${check.problems.join('; ')}.`);
  if (state.ownCheck?.mismatch) problems.push('Your own fingerprint reported by p2p-chat differs from the one computed here.');
  const alert = $('verify-alert');
  alert.replaceChildren(...problems.map((p) => el('span', { class: 'alert-line', text: p })));
  alert.hidden = problems.length === 0;

  const digits = check?.safety ?? [];
  const list = $('safety-number');
  list.replaceChildren(...digits.map((group) => el('li', { text: group })));
  list.dataset.digits = digits.join('');
  list.hidden = digits.length === 0;

  const toggle = $('verify-toggle');
  toggle.checked = peer.verified;
  toggle.disabled = !peer.online;
}

/** Shows the self-test result in the top-bar badge and the checks dialog. */
export function renderSelfTest(result) {
  const badge = $('selftest-badge');
  const detail = $('selftest-detail');
  if (result.error) {
    badge.className = 'badge badge-fail';
    badge.textContent = 'crypto ✗ not loaded';
    detail.textContent = `The WebAssembly module failed to load: ${result.error}. Fingerprints and safety numbers cannot be checked in this page.`;
    detail.className = 'selftest-detail bad';
    $('run-vectors').disabled = true;
    return;
  }
  const total = result.passed + result.failed;
  const ms = result.ms < 10 ? result.ms.toFixed(1).replace(/\.0$/, '') : String(Math.round(result.ms));
  if (result.failed === 0 && result.passed > 0) {
    badge.className = 'badge badge-ok';
    badge.textContent = `self-test ✓ ${result.passed}/${total} · ${ms} ms`;
    detail.textContent = `Built-in self-test: ${result.passed} of ${total} known-answer checks passed in ${ms} ms.`;
    detail.className = 'selftest-detail good';
  } else {
    badge.className = 'badge badge-fail';
    badge.textContent = `self-test FAILED ${result.passed}/${total}`;
    detail.replaceChildren(
      el('strong', { text: `Self-test failed: ${result.failed} of ${total} checks. Do not trust fingerprints shown here.` }),
      ...result.failures.map((f) => el('span', { class: 'alert-line', text: f })));
    detail.className = 'selftest-detail bad';
  }
  badge.dataset.state = result.failed === 0 && result.passed > 0 ? 'pass' : 'fail';
}

/** Runs every vector suite, filling the table row by row. */
export async function runAllVectors() {
  const button = $('run-vectors');
  const body = $('vectors-body');
  const summary = $('vectors-summary');
  button.disabled = true;
  button.textContent = 'Running…';
  $('vectors-table').hidden = false;
  body.replaceChildren();
  summary.textContent = '';
  delete summary.dataset.state;
  const totals = { passed: 0, failed: 0, skipped: 0, errors: 0, ms: 0 };
  for (const suite of crypto.VECTOR_SUITES) {
    const row = el('tr', { attrs: { 'data-kind': suite.kind } },
      el('th', { attrs: { scope: 'row' } }, el('span', { text: suite.label }), el('span', { class: 'suite-file', text: suite.file })));
    body.append(row);
    // Let the row paint before the (synchronous) wasm run.
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    try {
      const r = await crypto.runSuite(suite);
      totals.passed += r.passed; totals.failed += r.failed; totals.skipped += r.skipped; totals.ms += r.ms;
      row.className = r.failed > 0 || r.passed === 0 ? 'row-fail' : 'row-pass';
      row.append(
        el('td', { text: r.passed }), el('td', { text: r.failed }), el('td', { text: r.skipped }),
        el('td', { text: r.ms.toFixed(1) }));
      if (r.failures.length) {
        row.after(el('tr', { class: 'row-detail' }, el('td', { attrs: { colspan: 5 } },
          el('details', {}, el('summary', { text: `${r.failures.length} failures` }),
            el('ul', {}, ...r.failures.slice(0, 50).map((f) => el('li', { text: f })))))));
      }
    } catch (err) {
      totals.errors += 1;
      row.className = 'row-fail';
      row.append(el('td', { attrs: { colspan: 4 }, text: String(err?.message ?? err) }));
    }
  }
  const ok = totals.failed === 0 && totals.errors === 0;
  summary.dataset.state = ok ? 'pass' : 'fail';
  summary.className = `vectors-summary ${ok ? 'good' : 'bad'}`;
  summary.textContent = `${crypto.VECTOR_SUITES.length} suites: ${totals.passed} passed, ${totals.failed} failed, `
    + `${totals.skipped} skipped${totals.errors ? `, ${totals.errors} could not run` : ''} · ${Math.round(totals.ms)} ms`;
  button.disabled = false;
  button.textContent = 'Run all vectors again';
}
