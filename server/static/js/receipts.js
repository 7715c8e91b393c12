// Read and delivery receipts we send: `chat.delivered` and `chat.read` go out at most once a
// second per conversation; those in between are gathered into the next one, for the newest
// message, so a burst costs a frame or two.
import { renderConversations } from './list.js';
import { send } from './socket.js';
import { isMine, state } from './state.js';

const RECEIPT_GAP_MS = 1000;

// conversation id -> {deliveredUpto, deliveredDue, deliveredAt, deliveredTimer, readAt, readTimer}
const receipts = new Map();

/** The receipt bookkeeping of one conversation. */
function receiptsOf(conversationId) {
  let r = receipts.get(conversationId);
  if (!r) {
    r = { deliveredUpto: 0, deliveredDue: 0, deliveredAt: -Infinity, deliveredTimer: null, readAt: -Infinity, readTimer: null };
    receipts.set(conversationId, r);
  }
  return r;
}

/** Owes chat.delivered for a received message; the server's marker covers older ones too. */
export function deliver(conversationId, messageId) {
  const r = receiptsOf(conversationId);
  if (messageId <= r.deliveredUpto || messageId <= r.deliveredDue) return;
  r.deliveredDue = messageId;
  flushDelivered(conversationId);
}

/** Sends every chat.delivered owed from before the connection dropped. */
export function flushAllDelivered() {
  for (const id of receipts.keys()) flushDelivered(id);
}

/** Sends the owed chat.delivered of a conversation now, or when its gap has passed. */
function flushDelivered(conversationId) {
  const r = receipts.get(conversationId);
  if (!r || !r.deliveredDue || r.deliveredTimer !== null) return;
  const wait = r.deliveredAt + RECEIPT_GAP_MS - performance.now();
  if (wait > 0) {
    r.deliveredTimer = setTimeout(() => {
      r.deliveredTimer = null;
      flushDelivered(conversationId);
    }, wait);
    return;
  }
  // Offline: still owed, sent by flushAllDelivered on reconnecting.
  if (!send({ type: 'chat.delivered', message_id: r.deliveredDue })) return;
  r.deliveredUpto = r.deliveredDue;
  r.deliveredDue = 0;
  r.deliveredAt = performance.now();
}

/**
 * Tells the server we read the open conversation, when the page is actually being looked at:
 * at once, or when RECEIPT_GAP_MS has passed since the last chat.read for it.
 */
export function markReadIfVisible() {
  const open = state.open;
  if (!open || !open.needsRead || !open.loaded || document.visibilityState !== 'visible') return;
  const r = receiptsOf(state.openId);
  const wait = r.readAt + RECEIPT_GAP_MS - performance.now();
  if (wait > 0) {
    if (r.readTimer === null) {
      r.readTimer = setTimeout(() => {
        r.readTimer = null;
        markReadIfVisible();
      }, wait);
    }
    return;
  }
  if (!send({ type: 'chat.read', conversation_id: state.openId })) return;
  r.readAt = performance.now();
  // Read says more than delivered: an owed chat.delivered for it is moot.
  r.deliveredDue = 0;
  open.needsRead = false;
  for (const m of open.messages.values()) if (!isMine(m)) m.is_read = true;
  const conversation = state.conversations.get(state.openId);
  if (conversation && (conversation.unread || conversation.mentioned)) {
    Object.assign(conversation, { unread: 0, mentioned: false });
    renderConversations();
  }
}

/** Drops every receipt owed and its timers (logging out). */
export function resetReceipts() {
  for (const r of receipts.values()) {
    clearTimeout(r.deliveredTimer);
    clearTimeout(r.readTimer);
  }
  receipts.clear();
}
