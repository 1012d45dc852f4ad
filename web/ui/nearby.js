// People nearby (PROTOCOL.md §8.9): peers that announce themselves on our LAN, as our peer lists
// them in `nearby` events. The state they keep and the action Connect sends; no DOM here
// (nearby-view.js draws them). Names are the announcer's own words: shown as text only, and the
// fingerprint next to them is computed here in wasm from the key, never taken from anyone.

import * as S from './state.js';
import * as crypto from './crypto.js';
import { CONNECT_WAIT_MS, send } from './commands.js';

/** Where a failed connect_nearby is shown. */
export const NEARBY_ERROR = 'nearby-error';
/** The most entries the page keeps from one event (the peer sends at most 32). */
const MAX_SHOWN = 64;

function fromEvent(person) {
  if (typeof person?.peer_id !== 'string' || !person.peer_id) return null;
  return {
    id: person.peer_id,
    name: S.str(person.name).trim(),
    addresses: Array.isArray(person.addresses) ? person.addresses.filter((a) => typeof a === 'string') : [],
  };
}

/** Applies `nearby`: the list replaces what the page had. */
export function applyNearby(state, event) {
  const list = Array.isArray(event.people) ? event.people.slice(0, MAX_SHOWN).map(fromEvent).filter(Boolean) : [];
  state.nearby = list;
}

/** Everyone nearby, as the peer sorted them. */
export function listNearby(state) {
  return state.nearby ?? [];
}

/** The fingerprint of a key nearby, in groups of five, computed in wasm ('' until it has loaded or if the key is bad). */
export function fingerprintOf(person) {
  if (!crypto.wasmReady()) return '';
  try {
    return crypto.fingerprint(person.id);
  } catch {
    return '';
  }
}

/** Whether a Connect to this person is under way (pressed, not answered, not timed out). */
export function dialing(state, person) {
  const dial = state.ui.nearbyDial;
  return Boolean(dial && dial.id === person.id && Date.now() < dial.until && !state.ui.errors[NEARBY_ERROR]);
}

/** Connect: our peer dials the person's announced addresses, expecting its key. */
export function connectNearby(state, io, peerId) {
  const req = send(state, io, { action: 'connect_nearby', peer_id: peerId }, NEARBY_ERROR);
  if (req === null) return;
  state.ui.nearbyDial = { id: peerId, until: Date.now() + CONNECT_WAIT_MS };
  io.later(CONNECT_WAIT_MS);
}
