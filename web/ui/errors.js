// Plain words for the peer's `error` events. A failed dial carries a typed `code` and the
// `address` dialled (PROTOCOL.md §8); `plainError` reads those first. Other errors (and peers of
// an earlier version) carry only a technical `message` (e.g. "cannot connect to 127.0.0.1:6001:
// Connection refused (os error 111)"), so the page also recognises the texts the peer sends and
// says what they mean for the user. A text it does not recognise is shown as sent.

import { peerLabel, dialableAddress } from './state.js';

/** Where a peer was reached: an online peer or contact whose address (either form) is `addr`. */
function peerAt(state, addr) {
  for (const peer of state.peers.values()) {
    if (peer.address === addr || dialableAddress(peer) === addr) return peer;
  }
  return null;
}

/** A known name for a key, or null. */
function nameOfKey(state, key) {
  const peer = state.peers.get(key);
  return peer ? peerLabel(peer) : null;
}

// Each rule: a pattern over the peer's message and what to say instead (the match and the state).
const RULES = [
  // TCP connect failures (NodeError::Connect): nobody listening, no route, no answer in time.
  [/^cannot connect to (\S+): .*(refused|os error 111)/i,
    (m) => `Nobody answered at ${m[1]} — is their p2p-chat running, and is that their P2P port?`],
  [/^cannot connect to (\S+): .*(timed out|os error 110)/i,
    (m) => `No answer from ${m[1]} in time. Check the address, and that no firewall is in the way.`],
  [/^cannot connect to (\S+): .*(unreachable|no route|os error 113|os error 101)/i,
    (m) => `${m[1]} cannot be reached from this computer. Check the address and the network.`],
  [/^cannot connect to (\S+):/i,
    (m) => `Could not connect to ${m[1]}. Check the address and the port.`],
  [/^cannot resolve (\S+)/i,
    (m) => `There is no computer called ${m[1].replace(/:\d+$/, '')}. Check the address.`],
  // Refused after the handshake (NodeError::Refused).
  [/^connection to (\S+) closed: duplicate session/i,
    (m, state) => {
      const peer = peerAt(state, m[1]);
      return peer ? `Already connected to ${peerLabel(peer)}.` : `Already connected to the peer at ${m[1]}.`;
    }],
  [/^connection to (\S+) closed: connection to our own key/i,
    (m) => `${m[1]} is your own p2p-chat. Enter the other person’s address.`],
  // The keys are left out: two 44-character strings say nothing to a person.
  [/the peer at (\S+) answered with key (\S+) but the invite names (\S+)/i,
    (m, state) => {
      const answered = nameOfKey(state, m[2]);
      const named = nameOfKey(state, m[3]);
      if (answered) return `This invite is not ${answered}’s key: ${answered} answered at ${m[1]}, not the person the invite names. Nothing was sent.`;
      if (named) return `Someone else answered at ${m[1]}, not ${named}. Nothing was sent; ask ${named} for a fresh invite.`;
      return `Someone else answered at ${m[1]}, not the person this invite names. Nothing was sent; ask for a fresh invite.`;
    }],
  [/^connection to (\S+) closed: this key was rejected/i,
    (m) => `You rejected the key of the peer at ${m[1]} earlier, so it stays blocked.`],
  [/^connection to (\S+) closed: session limit reached/i,
    () => 'Your peer has reached its limit of connections.'],
  // Handshake failures (NodeError::Handshake): something answered, but not a p2p-chat peer.
  [/^handshake with (\S+) failed: (malformed frame|data frame before|handshake step|bad base64|line too long)/i,
    (m) => `${m[1]} answered, but not like a p2p-chat peer. Check that this is their P2P port (not their browser port).`],
  [/^handshake with (\S+) failed: handshake not finished within/i,
    (m) => `${m[1]} accepted the connection but did not finish the secure handshake in time. Is it a p2p-chat peer?`],
  [/^handshake with (\S+) failed: connection closed during the handshake/i,
    (m) => `${m[1]} closed the connection before it was secured. Try again; if it keeps happening, their p2p-chat may be refusing connections.`],
  [/^handshake with (\S+) failed:/i,
    (m) => `The secure handshake with ${m[1]} failed. Try again.`],
  [/^not connected to that peer$/i,
    () => 'Not connected to them right now. Your message was not sent.'],
];

/** The key that answered and the key an invite names, from a `wrong_key` error's message. */
function inviteKeys(message) {
  const m = /answered with key (\S+) but the invite names (\S+)/i.exec(message);
  return m ? [m[1], m[2]] : [null, null];
}

// Each typed `code` (PROTOCOL.md §8) and what to say (the address dialled, the state, the event).
const CODES = {
  connection_refused: (a) => `Nobody answered at ${a} — is their p2p-chat running, and is that their P2P port?`,
  timed_out: (a) => `No answer from ${a} in time. Check the address, and that no firewall is in the way.`,
  unreachable: (a) => `${a} cannot be reached from this computer. Check the address and the network.`,
  connect_failed: (a) => `Could not connect to ${a}. Check the address and the port.`,
  unknown_host: (a) => `There is no computer called ${a.replace(/:\d+$/, '')}. Check the address.`,
  not_a_peer: (a) => `${a} answered, but not like a p2p-chat peer. Check that this is their P2P port (not their browser port).`,
  handshake_timeout: (a) => `${a} accepted the connection but did not finish the secure handshake in time. Is it a p2p-chat peer?`,
  handshake_closed: (a) => `${a} closed the connection before it was secured. Try again; if it keeps happening, their p2p-chat may be refusing connections.`,
  handshake_failed: (a) => `The secure handshake with ${a} failed. Try again.`,
  already_connected: (a, state) => {
    const peer = peerAt(state, a);
    return peer ? `Already connected to ${peerLabel(peer)}.` : `Already connected to the peer at ${a}.`;
  },
  own_key: (a) => `${a} is your own p2p-chat. Enter the other person’s address.`,
  wrong_key: (a, state, event) => {
    const [got, expected] = inviteKeys(event.message);
    const answered = got ? nameOfKey(state, got) : null;
    const named = expected ? nameOfKey(state, expected) : null;
    if (answered) return `This invite is not ${answered}’s key: ${answered} answered at ${a}, not the person the invite names. Nothing was sent.`;
    if (named) return `Someone else answered at ${a}, not ${named}. Nothing was sent; ask ${named} for a fresh invite.`;
    return `Someone else answered at ${a}, not the person this invite names. Nothing was sent; ask for a fresh invite.`;
  },
  blocked: (a) => `You blocked the key of the peer at ${a}, so it cannot connect. Unblock it in Requests to let it in.`,
  unavailable: () => 'Your peer could not read its contacts right now, so the connection was closed. Try again.',
  session_limit: () => 'Your peer has reached its limit of connections.',
};

/**
 * The words to show for an `error` event: by its typed `code` when it has one the page knows,
 * else by recognising the peer's text in `event.message`.
 */
export function plainError(state, event) {
  const message = typeof event.message === 'string' && event.message ? event.message : 'Something went wrong.';
  const byCode = typeof event.code === 'string' && Object.hasOwn(CODES, event.code) ? CODES[event.code] : null;
  if (byCode && typeof event.address === 'string' && event.address) return byCode(event.address, state, event);
  for (const [pattern, say] of RULES) {
    const match = pattern.exec(message);
    if (match) return say(match, state);
  }
  return message;
}
