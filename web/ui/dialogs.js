// The dialogs, drawn from the state: which one is open (state.ui.dialog), the verification dialog
// (safety number of one peer), the invite, the new-room form and the cryptography checks.

import { $, el, showError, initials, hueClass } from './dom.js';
import * as crypto from './crypto.js';
import { peerLabel } from './state.js';
import { offlineText } from './views.js';

const DIALOGS = { verify: 'verify-dialog', invite: 'invite-dialog', room: 'room-dialog', checks: 'checks-dialog' };

/**
 * Opens the dialog the state names and closes the others. `onClosed(name)` is told when the user
 * closes one (Escape, ×), so the state can follow.
 */
export function watchDialogs(onClosed) {
  for (const [name, id] of Object.entries(DIALOGS)) $(id).addEventListener('close', () => onClosed(name));
}

export function renderDialogs(state) {
  for (const [name, id] of Object.entries(DIALOGS)) {
    const dialog = $(id);
    const wanted = state.ui.dialog === name;
    if (wanted && !dialog.open) {
      if (name === 'room') fillRoomForm(state); // once per opening: after that the form is the user's
      dialog.showModal();
      if (name === 'room') $('room-name').focus();
    } else if (!wanted && dialog.open) {
      dialog.close();
    }
  }
  if (state.ui.dialog === 'verify') renderVerify(state);
  if (state.ui.dialog === 'invite') renderInvite(state);
  if (state.selfTest) renderSelfTest(state.selfTest);
}

/** True when our fingerprint comes first: the safety number sorts its halves as digit strings. */
export function fingerprintOrder(ourFp, theirFp) {
  return crypto.digits(ourFp) <= crypto.digits(theirFp);
}

/** Fills the verification dialog for its peer (again whenever that peer's state changes). */
function renderVerify(state) {
  const peer = state.peers.get(state.ui.verifyPeer);
  if (!peer) return;
  const name = peerLabel(peer);
  $('verify-name').textContent = name;
  $('verify-name2').textContent = name;
  $('verify-their-key').textContent = peer.publicKey;
  const check = peer.check;
  const theirFp = check?.localFp || peer.daemonFp;
  const ourFp = state.ownCheck?.localFp || state.info?.fingerprint || '';
  $('verify-their-fp').textContent = theirFp;
  $('verify-our-fp').textContent = ourFp;
  $('verify-their-label').textContent = `${name}’s fingerprint`;
  $('verify-key-label').textContent = `${name}’s key`;
  $('verify-our-label').textContent = state.info?.name ? `Your fingerprint (${state.info.name})` : 'Your fingerprint';
  // Both pages list the two fingerprints in the order of the safety number's halves (the smaller
  // string first, PROTOCOL.md §6), so two people reading them aloud read the same lines.
  const list = $('verify-fps');
  const rows = { ours: [$('verify-our-label'), $('verify-our-fp').parentElement], theirs: [$('verify-their-label'), $('verify-their-fp').parentElement] };
  const order = fingerprintOrder(ourFp, theirFp) ? ['ours', 'theirs'] : ['theirs', 'ours'];
  list.prepend(...rows[order[0]], ...rows[order[1]]);
  list.dataset.order = order.join(' ');

  const problems = [];
  if (!crypto.wasmReady()) problems.push('The WebAssembly module did not load, so this page cannot compute the safety number itself.');
  if (check?.error) problems.push(`Could not compute the safety number: ${check.error}`);
  if (check?.problems?.length) problems.push(`Warning: ${check.problems.join('; ')}.`);
  if (state.ownCheck?.mismatch) problems.push('Your own fingerprint reported by p2p-chat differs from the one computed here.');
  const alert = $('verify-alert');
  alert.replaceChildren(...problems.map((p) => el('span', { class: 'alert-line', text: p })));
  alert.hidden = problems.length === 0;

  const digits = check?.safety ?? [];
  const safety = $('safety-number');
  safety.replaceChildren(...digits.map((group) => el('li', { text: group })));
  safety.dataset.digits = digits.join('');
  safety.hidden = digits.length === 0;

  const toggle = $('verify-toggle');
  toggle.checked = peer.verified;
  toggle.disabled = !peer.online;
}

/** Shows the self-test result in the top-bar badge and the checks dialog. */
function renderSelfTest(result) {
  const badge = $('selftest-badge');
  const detail = $('selftest-detail');
  if (result.error) {
    badge.className = 'badge badge-fail';
    badge.textContent = 'Crypto check ✗';
    badge.title = `The page's cryptography did not load: ${result.error}`;
    detail.textContent = `The WebAssembly module failed to load: ${result.error}. Fingerprints and safety numbers cannot be checked in this page.`;
    detail.className = 'selftest-detail bad';
    $('run-vectors').disabled = true;
    return;
  }
  const total = result.passed + result.failed;
  const ms = result.ms < 10 ? result.ms.toFixed(1).replace(/\.0$/, '') : String(Math.round(result.ms));
  if (result.failed === 0 && result.passed > 0) {
    badge.className = 'badge badge-ok';
    badge.textContent = 'Crypto check ✓';
    badge.title = `This page checked its own cryptography: ${result.passed} of ${total} known-answer checks passed in ${ms} ms. `
      + `Click to run the ${crypto.VECTOR_SUITES.length} published test-vector suites too.`;
    detail.textContent = `Built-in self-test: ${result.passed} of ${total} known-answer checks passed in ${ms} ms.`;
    detail.className = 'selftest-detail good';
  } else {
    badge.className = 'badge badge-fail';
    badge.textContent = 'Crypto check FAILED';
    badge.title = `${result.failed} of ${total} known-answer checks failed: do not trust fingerprints shown here.`;
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

// ---- invite ---------------------------------------------------------------------------------------

/** base64 of a string's UTF-8 bytes. */
function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * Fills the invite dialog from the last `invite` event. The QR code is an SVG document from the
 * daemon: it is shown through an <img> (a data: URL, which runs no script), never as markup.
 */
function renderInvite(state) {
  const invite = state.invite?.text ?? '';
  const svg = state.invite?.qrSvg ?? '';
  $('invite-text').textContent = invite;
  $('copy-invite').disabled = !invite;
  const img = $('invite-qr');
  const src = svg ? `data:image/svg+xml;base64,${base64Utf8(svg)}` : null;
  if (src && img.getAttribute('src') !== src) img.src = src;
  if (!src) img.removeAttribute('src');
  img.hidden = !src;
  img.parentElement.hidden = !src;
  showError($('invite-dialog-error'), invite ? '' : 'Your peer sent an empty invite.');
}

// ---- new room -------------------------------------------------------------------------------------

/**
 * Sets up the room form: for a new room an empty name and a checkbox per contact; for a room we
 * created (state.ui.roomEditing) its name, and its members checked among our contacts.
 */
function fillRoomForm(state) {
  const own = state.info?.public_key;
  const editing = state.ui.roomEditing ? state.rooms.get(state.ui.roomEditing) : null;
  const inRoom = new Set(editing?.members ?? []);
  const people = new Map([...state.peers.values()]
    .filter((p) => p.id !== own && (p.contact || p.online || inRoom.has(p.id)))
    .map((p) => [p.id, p]));
  for (const key of inRoom) if (key !== own && !people.has(key)) people.set(key, { id: key, name: '', online: false });
  const contacts = [...people.values()]
    .sort((a, b) => (Number(inRoom.has(b.id)) - Number(inRoom.has(a.id))) || (Number(b.online) - Number(a.online)) || peerLabel(a).localeCompare(peerLabel(b)));
  $('room-members').replaceChildren(...contacts.map((peer) => {
    const id = `room-member-${[...peer.id].map((c) => c.charCodeAt(0).toString(16)).join('')}`;
    const checkbox = el('input', { attrs: { type: 'checkbox', id, value: peer.id, name: 'member' } });
    checkbox.checked = inRoom.has(peer.id);
    return el('li', {},
      checkbox,
      el('label', { class: 'member', attrs: { for: id } },
        el('span', { class: `avatar avatar-small ${hueClass(peer.id)} ${peer.online ? 'online' : 'offline'}`, text: initials(peerLabel(peer)), attrs: { 'aria-hidden': 'true' } }),
        el('span', { class: 'member-name', text: peerLabel(peer) }),
        el('span', { class: 'member-state', text: peer.online ? 'online' : offlineText(peer) })));
  }));
  $('room-no-contacts').hidden = contacts.length > 0;
  $('room-name').value = editing ? editing.name : '';
  $('room-title').textContent = editing ? 'Room members' : 'New room';
  $('room-create').textContent = editing ? 'Save changes' : 'Create room';
  $('room-create').disabled = !editing && contacts.length === 0;
}

/** What the user entered in the room form. */
export function roomFormValues() {
  return {
    name: $('room-name').value.trim(),
    members: [...$('room-members').querySelectorAll('input[type="checkbox"]:checked')].map((c) => c.value),
  };
}
