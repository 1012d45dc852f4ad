// Conversation features in the page, with two real `p2p-chat` peers: http(s) links (and a
// `javascript:` text that stays text), notifications with a stubbed `window.Notification`
// (permission asked only from the button, a hidden tab notified, previews hidden, a muted chat
// silent and left out of the tab's count and favicon badge), replies and reactions, edits and
// deletes for everyone, typing indicators and read receipts (off until turned on, a hidden tab
// reads nothing, a contact's own setting), and an axe-core accessibility check of the page with
// all of them on screen. With UPDATE_DOCS=1 the screenshots go to docs/ for the README.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest,
} from './lib.mjs';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page; returns its serious and critical violations, briefly. */
async function axeViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.any?.[0]?.message ?? ''}`),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

/**
 * Runs before the page's scripts: a Notification that records what it is asked to show and
 * whether permission was requested, and a tab whose visibility the test switches.
 */
function stubNotificationsAndVisibility() {
  window.__notes = [];
  window.__asked = 0;
  window.__hidden = false;
  class FakeNotification {
    static permission = 'default';

    static async requestPermission() {
      window.__asked += 1;
      FakeNotification.permission = 'granted';
      return 'granted';
    }

    constructor(title, options = {}) {
      window.__notes.push({ title, body: options.body, tag: options.tag });
    }

    close() {}
  }
  window.Notification = FakeNotification;
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__hidden });
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get: () => (window.__hidden ? 'hidden' : 'visible'),
  });
}

const peers = [];
let browser;
let alice;
let bob;
let aliceId;
let bobId;
/** Requests the pages made to anything but their own peer (links must never be fetched). */
const outside = [];

async function openPage(peer) {
  const page = await browser.context.newPage();
  await page.addInitScript(stubNotificationsAndVisibility);
  const problems = watchProblems(page);
  page.on('request', (request) => {
    if (!request.url().startsWith(peer.origin) && !request.url().startsWith('data:')) outside.push(request.url());
  });
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  return { peer, page, problems };
}

async function say(side, text) {
  await side.page.fill('#composer-input', text);
  await side.page.press('#composer-input', 'Enter');
  await side.page.locator('#messages .msg-mine .msg-text', { hasText: text }).first().waitFor();
}

async function openConv(side, convId) {
  await side.page.locator(`#conv-list [data-conv="${convId}"]`).click();
  await side.page.locator(`#conv-list [data-conv="${convId}"][aria-current="true"]`).waitFor();
}

async function setHidden(side, hidden) {
  await side.page.evaluate((h) => {
    window.__hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

const notes = (side) => side.page.evaluate(() => window.__notes);

before(async () => {
  if (missing) return;
  browser = await launch({ viewport: { width: 1280, height: 900 } });
  peers.push(await startPeer('Alice'), await startPeer('Bob'));
  alice = await openPage(peers[0]);
  bob = await openPage(peers[1]);
  aliceId = await alice.page.locator('#own-key').getAttribute('data-key');
  bobId = await bob.page.locator('#own-key').getAttribute('data-key');
  const bobPort = Number(await bob.page.locator('#own-port').innerText());
  await alice.page.fill('#connect-ip', '127.0.0.1');
  await alice.page.fill('#connect-port', String(bobPort));
  await alice.page.click('#connect-btn');
  await bob.page.locator(`#peer-list [data-peer="${aliceId}"]`).waitFor();
  await alice.page.locator(`#peer-list [data-peer="${bobId}"]`).waitFor();
  await acceptRequest(bob.page, aliceId);
  await openConv(alice, bobId);
  await openConv(bob, aliceId);
});

after(async () => {
  await browser?.close();
  await Promise.all(peers.map((p) => p.stop()));
});

test('http(s) addresses become links that open a new tab without a referrer; javascript: and data: stay text; nothing is fetched', { skip: missing }, async () => {
  const text = 'see https://example.org/wiki/A_(b). or http://example.com:8080/x?y=1#z, not javascript:alert(1) nor data:text/html,<b>x</b>';
  await say(bob, text);
  await say(bob, 'javascript:alert(1)');
  const row = alice.page.locator('#messages .msg-theirs', { hasText: 'see https://' });
  await row.waitFor();
  const links = row.locator('a');
  assert.equal(await links.count(), 2);
  assert.deepEqual(await links.evaluateAll((as) => as.map((a) => [a.getAttribute('href'), a.textContent, a.rel, a.target])), [
    ['https://example.org/wiki/A_(b)', 'https://example.org/wiki/A_(b)', 'noopener noreferrer', '_blank'],
    ['http://example.com:8080/x?y=1#z', 'http://example.com:8080/x?y=1#z', 'noopener noreferrer', '_blank'],
  ]);
  // The whole text is still there, the sentence's full stop and comma outside the links.
  assert.equal(await row.locator('.msg-text').textContent(), text);
  assert.equal(await row.locator('b').count(), 0, 'markup stays text');
  const bare = alice.page.locator('#messages .msg-theirs .msg-text', { hasText: /^javascript:alert\(1\)$/ });
  await bare.waitFor();
  assert.equal(await bare.locator('a').count(), 0, 'a javascript: text stays text');
  assert.equal(await alice.page.locator('#messages a[href^="javascript:"], #messages a[href^="data:"]').count(), 0);
  // Own messages are linked too.
  assert.equal(await bob.page.locator('#messages .msg-mine a[href="https://example.org/wiki/A_(b)"]').count(), 1);
  assert.deepEqual(outside, [], 'no link was fetched (no previews)');
  assert.equal(await alice.page.evaluate(() => window.__xss), undefined);
  publish(await screenshot(alice.page, 'links'), 'links');
  assert.deepEqual(alice.problems, []);
});

test('notifications: asked only from the button, shown for a hidden tab with sender and preview, previews can be hidden, a muted chat is silent and not counted', { skip: missing }, async () => {
  const page = alice.page;
  // Never asked on load.
  assert.equal(await page.evaluate(() => window.__asked), 0);
  await page.locator('#notify-enable:visible').waitFor();
  assert.match(await page.locator('#notify-status').innerText(), /background/);
  await page.click('#notify-enable');
  await page.locator('#notify-enable').waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => window.__asked), 1);
  assert.match(await page.locator('#notify-status').innerText(), /^On/);

  // Visible tab: no notification.
  await say(bob, 'while you look');
  await page.locator('#messages .msg-text', { hasText: 'while you look' }).waitFor();
  assert.deepEqual(await notes(alice), []);

  // Hidden tab: the sender and a preview; the unread count in the title and the favicon badge.
  await setHidden(alice, true);
  await say(bob, 'are you there?');
  await page.waitForFunction(() => window.__notes.length === 1);
  assert.deepEqual(await notes(alice), [{ title: 'Bob', body: 'are you there?', tag: bobId }]);
  await page.waitForFunction(() => document.title === '(1) p2p-chat');
  const favicon = page.locator('#favicon');
  assert.equal(await favicon.getAttribute('data-unread'), '1');
  assert.match(await favicon.getAttribute('href'), /^data:image\/svg\+xml,/);
  assert.match(decodeURIComponent(await favicon.getAttribute('href')), />1<\/text><\/svg>$/);

  // Previews off: "New message", nobody named.
  await setHidden(alice, false);
  await page.waitForFunction(() => document.title === 'p2p-chat');
  assert.equal(await favicon.getAttribute('href'), '/static/favicon.svg');
  await page.uncheck('#notify-previews');
  await setHidden(alice, true);
  await say(bob, 'the secret plan');
  await page.waitForFunction(() => window.__notes.length === 2);
  assert.deepEqual((await notes(alice))[1], { title: 'p2p-chat', body: 'New message', tag: bobId });
  assert.equal(await page.evaluate(() => JSON.parse(localStorage.getItem('p2p-chat-notify')).previews), false);
  await setHidden(alice, false);
  await page.check('#notify-previews');

  // Muted: no notification and no count in the title or the badge; kept across a reload.
  await page.click('#chat-mute');
  assert.equal(await page.locator('#chat-mute').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator('#chat-mute').innerText(), 'Unmute');
  await page.reload();
  await page.locator('#conn[data-state="open"]').waitFor();
  await openConv(alice, bobId);
  assert.equal(await page.locator('#chat-mute').getAttribute('aria-pressed'), 'true');
  await page.evaluate(() => Notification.requestPermission());
  await setHidden(alice, true);
  await say(bob, 'quiet please');
  await page.locator('#messages .msg-text', { hasText: 'quiet please' }).waitFor();
  await page.waitForTimeout(300);
  assert.deepEqual(await notes(alice), []);
  assert.equal(await page.title(), 'p2p-chat');
  assert.equal(await favicon.getAttribute('href'), '/static/favicon.svg');
  await setHidden(alice, false);
  // The panel (turned on, previews) and the muted chat's button, on screen.
  await page.locator('.notify-panel').scrollIntoViewIfNeeded();
  publish(await screenshot(page, 'notifications'), 'notifications');
  await page.click('#chat-mute');
  assert.equal(await page.locator('#chat-mute').getAttribute('aria-pressed'), 'false');
  assert.deepEqual(alice.problems, []);
});

test('reply and react from the page: the quote shows the replied-to text, a reaction toggles on both sides, Esc cancels a reply', { skip: missing }, async () => {
  await say(alice, 'shall we meet at noon?');
  const theirs = bob.page.locator('#messages .msg-theirs', { hasText: 'shall we meet at noon?' });
  await theirs.waitFor();

  // Reply: the bar above the composer, Esc cancels it, the Reply button starts it again.
  await theirs.hover();
  await theirs.locator('.msg-reply').click();
  await bob.page.locator('#reply-bar:not([hidden])').waitFor();
  assert.match(await bob.page.locator('#reply-bar').innerText(), /Replying to Alice[\s\S]*shall we meet at noon\?/);
  assert.equal(await bob.page.evaluate(() => document.activeElement?.id), 'composer-input');
  await bob.page.press('#composer-input', 'Escape');
  await bob.page.locator('#reply-bar').waitFor({ state: 'hidden' });
  await theirs.hover();
  await theirs.locator('.msg-reply').click();
  await say(bob, 'noon works');
  await bob.page.locator('#reply-bar').waitFor({ state: 'hidden' });
  const mine = bob.page.locator('#messages .msg-mine', { hasText: 'noon works' });
  assert.equal(await mine.locator('.msg-quote .msg-quote-text').innerText(), 'shall we meet at noon?');
  const quoted = alice.page.locator('#messages .msg-theirs', { hasText: 'noon works' });
  await quoted.waitFor();
  assert.equal(await quoted.locator('.msg-quote-name').innerText(), 'You');
  assert.equal(await quoted.locator('.msg-quote-text').innerText(), 'shall we meet at noon?');

  // React 👍 from the picker; Alice sees it; pressing the chip takes it back on both sides.
  await theirs.hover();
  await theirs.locator('.msg-react').click();
  await theirs.locator('.reaction-picker:not([hidden]) [data-emoji="👍"]').click();
  const chip = theirs.locator('.reaction-chip[data-emoji="👍"]');
  await chip.waitFor();
  assert.equal(await chip.getAttribute('aria-pressed'), 'true');
  assert.match(await chip.getAttribute('aria-label'), /^👍 1: you\. Press to take back your reaction$/);
  const ownRow = alice.page.locator('#messages .msg-mine', { hasText: 'shall we meet at noon?' });
  const seen = ownRow.locator('.reaction-chip[data-emoji="👍"]');
  await seen.waitFor();
  assert.equal(await seen.getAttribute('aria-pressed'), 'false');
  assert.match(await seen.getAttribute('aria-label'), /^👍 1: Bob\. Press to react with 👍$/);
  // Alice adds hers by pressing the same chip: two people, one count.
  await seen.click();
  await ownRow.locator('.reaction-chip[data-emoji="👍"] .reaction-count', { hasText: '2' }).waitFor();
  await theirs.locator('.reaction-chip[data-emoji="👍"] .reaction-count', { hasText: '2' }).waitFor();
  publish(await screenshot(bob.page, 'reply-react'), 'reply-react');
  await theirs.locator('.reaction-chip[data-emoji="👍"]').click();
  await ownRow.locator('.reaction-chip[data-emoji="👍"] .reaction-count', { hasText: '1' }).waitFor();
  assert.equal(await theirs.locator('.reaction-chip[data-emoji="👍"]').getAttribute('aria-pressed'), 'false');

  // After a reload the page shows what the peer stored: the quote and the reaction.
  await alice.page.reload();
  await alice.page.locator('#conn[data-state="open"]').waitFor();
  await openConv(alice, bobId);
  await quoted.locator('.msg-quote-text', { hasText: 'shall we meet at noon?' }).waitFor();
  await ownRow.locator('.reaction-chip[data-emoji="👍"][aria-pressed="true"]').waitFor();
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});

test('edit with ↑ and Esc, and delete for everyone, from the page: the other side sees the new text marked edited, then "This message was deleted"', { skip: missing }, async () => {
  await say(bob, 'see you at 5');
  await say(bob, 'bring the tickets');
  const theirs = alice.page.locator('#messages .msg-theirs', { hasText: 'bring the tickets' });
  await theirs.waitFor();
  const input = bob.page.locator('#composer-input');
  // ↑ in the empty box edits the last own message; Esc cancels and empties the box.
  await input.focus();
  await bob.page.keyboard.press('ArrowUp');
  await bob.page.locator('#reply-bar:not([hidden])', { hasText: 'Editing your message' }).waitFor();
  await screenshot(bob.page, 'edit-bar');
  assert.equal(await input.inputValue(), 'bring the tickets');
  await bob.page.keyboard.press('Escape');
  await bob.page.locator('#reply-bar').waitFor({ state: 'hidden' });
  assert.equal(await input.inputValue(), '');
  // ↑ again, change it, Enter: both sides show the new text, marked edited.
  await bob.page.keyboard.press('ArrowUp');
  await input.fill('bring the tickets and snacks');
  await bob.page.keyboard.press('Enter');
  await bob.page.locator('#messages .msg-mine .msg-text', { hasText: 'bring the tickets and snacks' }).waitFor();
  await bob.page.locator('#messages .msg-mine', { hasText: 'bring the tickets and snacks' }).locator('.msg-edited').waitFor();
  const edited = alice.page.locator('#messages .msg-theirs', { hasText: 'bring the tickets and snacks' });
  await edited.locator('.msg-edited').waitFor();
  assert.equal(await alice.page.locator('#messages .msg-text', { hasText: /^bring the tickets$/ }).count(), 0);
  // Only one's own messages offer Edit and Delete for everyone.
  await edited.hover();
  assert.equal(await edited.locator('.msg-edit, .msg-unsend').count(), 0);

  // Delete for everyone: asked first, then gone on both sides.
  let asked = '';
  bob.page.once('dialog', (dialog) => {
    asked = dialog.message();
    dialog.accept();
  });
  const mine = bob.page.locator('#messages .msg-mine', { hasText: 'see you at 5' });
  await mine.hover();
  await mine.locator('.msg-unsend').click();
  assert.match(asked, /for everyone/);
  await bob.page.locator('#messages .msg-mine .msg-unsent', { hasText: 'You deleted this message for everyone' }).waitFor();
  await alice.page.locator('#messages .msg-theirs .msg-unsent', { hasText: 'This message was deleted' }).waitFor();
  assert.equal(await alice.page.locator('#messages .msg-text', { hasText: 'see you at 5' }).count(), 0);
  publish(await screenshot(alice.page, 'edit-delete'), 'edit-delete');
  // After a reload the page shows what the peer stored.
  await alice.page.reload();
  await alice.page.locator('#conn[data-state="open"]').waitFor();
  await openConv(alice, bobId);
  await alice.page.locator('#messages .msg-theirs .msg-unsent').first().waitFor();
  await alice.page.locator('#messages .msg-theirs', { hasText: 'bring the tickets and snacks' }).locator('.msg-edited').waitFor();
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});

/** The mark after our message with this text. */
function tickOf(side, text) {
  return side.page.locator('#messages .msg-mine', { hasText: text }).locator('.tick');
}

test('typing indicators and read receipts: off until both turn them on; then "Bob is typing…" comes and goes, a message read in a visible tab gets ✓✓ in another colour, a hidden tab reads nothing, and a contact can be left out', { skip: missing }, async () => {
  for (const side of [alice, bob]) {
    assert.equal(await side.page.locator('#indicators-typing').isChecked(), false);
    assert.equal(await side.page.locator('#indicators-receipts').isChecked(), false);
  }
  // Every text the typing line ever shows on Alice's page.
  await alice.page.evaluate(() => {
    window.__typingLines = [];
    const line = document.getElementById('typing-line');
    new MutationObserver(() => window.__typingLines.push(line.textContent)).observe(line, { childList: true, characterData: true, subtree: true });
  });

  // Off: Bob typing shows nothing; Bob's reading gives Alice no read mark.
  await bob.page.locator('#composer-input').pressSequentially('typed while off', { delay: 20 });
  await bob.page.press('#composer-input', 'Enter');
  await alice.page.locator('#messages .msg-text', { hasText: 'typed while off' }).waitFor();
  assert.deepEqual(await alice.page.evaluate(() => window.__typingLines.filter(Boolean)), []);
  await say(alice, 'read while off?');
  await bob.page.locator('#messages .msg-text', { hasText: 'read while off?' }).waitFor();
  await say(bob, 'seen it');
  await alice.page.locator('#messages .msg-text', { hasText: 'seen it' }).waitFor();
  assert.equal(await tickOf(alice, 'read while off?').getAttribute('data-state'), 'delivered');

  // Both turn both on (the sidebar's switches, kept by the peer).
  for (const side of [alice, bob]) {
    await side.page.check('#indicators-typing');
    await side.page.check('#indicators-receipts');
  }
  await alice.page.reload();
  await alice.page.locator('#conn[data-state="open"]').waitFor();
  await openConv(alice, bobId);
  await alice.page.waitForFunction(() => document.getElementById('indicators-receipts').checked);
  assert.equal(await alice.page.locator('#indicators-typing').isChecked(), true);
  // Read: what Bob's open chat shows is read, so the earlier message is now read too.
  await say(alice, 'read me please');
  await tickOf(alice, 'read me please').and(alice.page.locator('[data-state="read"]')).waitFor();
  const read = tickOf(alice, 'read me please');
  assert.equal(await read.getAttribute('aria-label'), 'Read');
  assert.equal(await read.getAttribute('title'), 'Read by Bob');
  await tickOf(alice, 'read while off?').and(alice.page.locator('[data-state="read"]')).waitFor();
  // Two ticks in another colour than "delivered", and the legend says what they mean.
  const colours = await alice.page.evaluate(() => {
    const probe = document.createElement('span');
    probe.className = 'tick tick-delivered';
    document.querySelector('#messages .msg-mine .bubble').append(probe);
    const delivered = getComputedStyle(probe).color;
    probe.remove();
    return { delivered, read: getComputedStyle(document.querySelector('#messages .tick-read')).color };
  });
  assert.notEqual(colours.read, colours.delivered);
  assert.equal(await read.locator('svg path').count(), 2, 'two ticks');
  assert.match(await alice.page.locator('#tick-legend [data-state="read"]').innerText(), /^read/);

  // Typing: Alice sees "Bob is typing…" while he types; it goes when his message arrives.
  await bob.page.locator('#composer-input').pressSequentially('on my way', { delay: 40 });
  await alice.page.locator('#typing-line', { hasText: 'Bob is typing…' }).waitFor();
  assert.equal(await alice.page.locator('#typing-line').getAttribute('role'), 'status');
  publish(await screenshot(alice.page, 'typing'), 'typing');
  await bob.page.press('#composer-input', 'Enter');
  await alice.page.locator('#messages .msg-text', { hasText: 'on my way' }).waitFor();
  await alice.page.waitForFunction(() => document.getElementById('typing-line').textContent === '');
  // …and when he stops typing without sending (3 s without a key). (His peer sends a start at
  // most every 3 s: this one is the next.)
  await bob.page.waitForTimeout(3100);
  await bob.page.locator('#composer-input').pressSequentially('hmm', { delay: 40 });
  await alice.page.locator('#typing-line', { hasText: 'Bob is typing…' }).waitFor();
  await alice.page.waitForFunction(() => document.getElementById('typing-line').textContent === '', null, { timeout: 10000 });
  await bob.page.fill('#composer-input', '');

  // A hidden tab reads nothing: Bob's page shows the message, but only once his tab is visible
  // again does Alice see it read (his later message proves his receipt would have come by then).
  await setHidden(bob, true);
  await say(alice, 'while you are away');
  await bob.page.locator('#messages .msg-text', { hasText: 'while you are away' }).waitFor();
  await say(bob, 'written in a hidden tab');
  await alice.page.locator('#messages .msg-text', { hasText: 'written in a hidden tab' }).waitFor();
  assert.equal(await tickOf(alice, 'while you are away').getAttribute('data-state'), 'delivered');
  publish(await screenshot(alice.page, 'read'), 'read'); // read (yellow) above, delivered (green) below
  await setHidden(bob, false);
  await tickOf(alice, 'while you are away').and(alice.page.locator('[data-state="read"]')).waitFor();

  // Scrolled up to older messages, a new one is not on screen: not read until Bob scrolls down.
  // (Bob's page's actions are recorded: its next one, typing, would follow any mark_read.)
  await bob.page.evaluate(() => {
    window.__sent = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function record(data) {
      window.__sent.push(JSON.parse(data));
      return send.call(this, data);
    };
    const list = document.getElementById('messages');
    list.scrollTop = 0;
  });
  assert.ok(await bob.page.evaluate(() => {
    const list = document.getElementById('messages');
    return list.scrollHeight > list.clientHeight + 200;
  }), 'enough messages to scroll');
  await say(alice, 'below the fold');
  await bob.page.locator('#messages .msg-text', { hasText: 'below the fold' }).waitFor();
  await bob.page.locator('#composer-input').pressSequentially('x');
  await bob.page.waitForFunction(() => window.__sent.some((a) => a.action === 'typing'));
  assert.deepEqual(await bob.page.evaluate(() => window.__sent.filter((a) => a.action === 'mark_read')), []);
  assert.equal(await tickOf(alice, 'below the fold').getAttribute('data-state'), 'delivered');
  await bob.page.fill('#composer-input', '');
  await bob.page.evaluate(() => {
    const list = document.getElementById('messages');
    list.scrollTop = list.scrollHeight;
  });
  await tickOf(alice, 'below the fold').and(alice.page.locator('[data-state="read"]')).waitFor();
  const marks = await bob.page.evaluate(() => window.__sent.filter((a) => a.action === 'mark_read'));
  assert.equal(marks.length, 1);
  assert.equal(marks[0].conversation, aliceId);

  // Alice turns read receipts off for Bob only (the chat header): reciprocal, his read marks go.
  await alice.page.click('#chat-indicators summary');
  await alice.page.locator('#chat-receipts-setting').selectOption('off');
  await alice.page.waitForFunction(() => document.querySelectorAll('#messages .tick-read').length === 0);
  assert.match(await alice.page.locator('#chat-indicators-state').innerText(), /read receipts off/);
  await screenshot(alice.page, 'indicators-contact');
  assert.equal(await tickOf(alice, 'read me please').getAttribute('data-state'), 'delivered');
  await alice.page.locator('#chat-receipts-setting').selectOption('default');
  await tickOf(alice, 'read me please').and(alice.page.locator('[data-state="read"]')).waitFor();
  await alice.page.click('#chat-indicators summary');
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});

test('axe-core finds no serious or critical accessibility violation with replies, reactions, the picker and the reply bar on screen', { skip: missing }, async () => {
  const page = bob.page;
  const row = page.locator('#messages .msg-theirs', { hasText: 'shall we meet at noon?' });
  await row.waitFor();
  await row.hover();
  await row.locator('.msg-react').click();
  await row.locator('.reaction-picker:not([hidden])').waitFor();
  await row.locator('.msg-reply').click();
  await page.locator('#reply-bar:not([hidden])').waitFor();
  // Screen-reader names: the tick says its state, a reaction who reacted and what pressing does.
  const tick = page.locator('#messages .msg-mine .tick').first();
  assert.match(await tick.getAttribute('aria-label'), /^(Queued|Sent|Delivered|Read)$/);
  assert.equal(await tick.getAttribute('role'), 'img');
  assert.match(await row.locator('.reaction-chip').first().getAttribute('aria-label'), /^👍 1: Alice\. Press to react with 👍$/);
  assert.equal(await row.locator('.reaction-picker [aria-label="React with 🎉"]').count(), 1);
  assert.equal(await page.locator('#reply-cancel').getAttribute('aria-label'), 'Cancel reply (Esc)');
  // Typing and read receipts on screen too: Alice typing, read ticks, the contact's choices open.
  await alice.page.locator('#composer-input').pressSequentially('let me think', { delay: 20 });
  await page.locator('#typing-line', { hasText: 'Alice is typing…' }).waitFor();
  await page.click('#chat-indicators summary');
  await page.locator('#chat-receipts-setting').waitFor();
  await alice.page.locator('#messages .tick-read').first().waitFor();
  for (const side of [bob, alice]) {
    await side.page.bringToFront(); // a background tab may not run its CSS transitions
    for (const colorScheme of ['light', 'dark']) {
      await side.page.emulateMedia({ colorScheme });
      await side.page.waitForTimeout(400); // let the buttons' 0.15 s colour transitions end
      const serious = await axeViolations(side.page);
      assert.deepEqual(serious, [], `${colorScheme}: ${JSON.stringify(serious, null, 2)}`);
    }
    await side.page.emulateMedia({ colorScheme: 'light' });
  }
  await page.click('#chat-indicators summary');
  await alice.page.fill('#composer-input', '');
  await page.press('#composer-input', 'Escape');
  await page.locator('#reply-bar').waitFor({ state: 'hidden' });
});
