// Draws "People nearby" (nearby.js): each person's name, the fingerprint of the key it announces
// and a Connect button, or "Connected" once a session with that key is up.

import { $, el, showError } from './dom.js';
import { avatar } from './views.js';
import * as Near from './nearby.js';

export function renderNearby(state, { onConnectNearby }) {
  const list = Near.listNearby(state);
  $('nearby-count').textContent = String(list.length);
  $('nearby-empty').hidden = list.length > 0;
  showError($(Near.NEARBY_ERROR), state.ui.errors[Near.NEARBY_ERROR] ?? '');
  $('nearby-list').replaceChildren(
    ...list.map((person) => {
      const name = person.name || 'Unnamed peer';
      const fp = Near.fingerprintOf(person);
      const online = Boolean(state.peers.get(person.id)?.online);
      const dialing = !online && Near.dialing(state, person);
      const action = online
        ? el('span', { class: 'tag tag-muted', text: 'Connected' })
        : el('button', {
          class: 'btn btn-primary btn-small nearby-connect',
          text: dialing ? 'Connecting…' : 'Connect',
          attrs: { type: 'button', disabled: dialing, 'aria-label': `Connect to ${name}` },
          on: { click: () => onConnectNearby(person.id) },
        });
      return el('li', { class: 'nearby-item', attrs: { 'data-nearby': person.id } },
        avatar(name, person.id, 'avatar-small'),
        el('span', { class: 'nearby-body' },
          el('span', { class: 'nearby-name', text: name, attrs: { title: name } }),
          el('code', { class: 'nearby-fp', text: fp || 'fingerprint …', attrs: { title: 'Fingerprint of the key this person announces' } })),
        action);
    }),
  );
}
