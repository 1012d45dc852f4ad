// Redraws the whole page from the state. Called after every event from our peer and every user
// action; each view draws its region from the state alone, so no event decides by hand what to
// redraw.

import * as V from './views.js';
import { renderDialogs } from './dialogs.js';
import { createMessageList } from './messages.js';
import { createSearchView } from './search-view.js';
import { renderTimer } from './timer.js';
import { renderNearby } from './nearby-view.js';
import { renderIndicators } from './indicators.js';

/**
 * `handlers`: what the drawn controls do — { onSelect(convId), onVerify(peerId),
 * onDisconnect(peerId), onAcceptKey(change), onRejectKey(change), onLoadOlder(convId),
 * onLoadNewer(convId), onShowNewest(convId), onDeleteMessage(message), onOpenResult(result),
 * onConnectNearby(peerId) }.
 * Returns render(state).
 */
export function createRenderer(handlers) {
  const messages = createMessageList();
  const search = createSearchView();
  return function render(state) {
    V.renderConnection(state);
    V.renderIdentity(state);
    V.renderRequests(state, handlers);
    renderNearby(state, handlers);
    V.renderConvList(state, handlers);
    V.renderPeerList(state, handlers);
    V.renderChatHeader(state);
    renderTimer(state);
    renderIndicators(state);
    V.renderKeyChange(state, handlers);
    V.renderComposer(state);
    V.renderFingerprintAlert(state);
    V.renderNotices(state);
    V.renderNotifications(state);
    V.renderDrawer(state);
    messages(state, handlers);
    search(state, handlers);
    renderDialogs(state);
  };
}
