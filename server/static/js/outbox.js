// Our sends until the server confirms them. Each carries a fresh `client_id`; one whose echo has
// not come is kept (at most MAX_PENDING) across a dropped connection and sent again, with the same
// `client_id`, as soon as the page is connected again, so the server never stores it twice
// (docs/protocol.md, "Idempotent sends"). The echo is matched by `client_id`. Until then they
// are shown under the open conversation's messages, as "Sending…".
import { ui } from './dom.js';
import { isConnected, send } from './socket.js';
import { state } from './state.js';

export const MAX_PENDING = 20;

/** A random UUID; `crypto.randomUUID` exists only in secure contexts (https or localhost). */
function newClientId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function frameOf(item) {
  const frame = { type: 'chat.message', conversation_id: item.conversationId, content: item.content, client_id: item.clientId };
  if (item.replyTo !== null) frame.reply_to = item.replyTo;
  return frame;
}

/**
 * Sends a new message (answering `replyTo`, a message id, or null) and keeps it until its echo;
 * false when MAX_PENDING sends are already waiting.
 */
export function queueMessage(conversationId, content, replyTo) {
  if (state.pending.length >= MAX_PENDING) return false;
  const item = { clientId: newClientId(), conversationId, content, replyTo, sent: false };
  state.pending.push(item);
  item.sent = send(frameOf(item));
  renderPending();
  return true;
}

/** The server's `chat.message`: ends the wait for the send it echoes, if it is one of ours. */
export function onEcho(message) {
  if (typeof message.client_id !== 'string') return;
  const at = state.pending.findIndex((item) => item.clientId === message.client_id);
  if (at >= 0) state.pending.splice(at, 1);
  renderPending();
}

/**
 * The server refused a `chat.message` of ours: it answers them in the order they came, so it is
 * the oldest one sent on this connection. Returns it, no longer kept.
 */
export function takeRefused() {
  const at = state.pending.findIndex((item) => item.sent);
  const refused = at >= 0 ? state.pending.splice(at, 1)[0] : null;
  renderPending();
  return refused;
}

/** The connection dropped: nothing pending has reached the new one yet. */
export function onConnectionLost() {
  for (const item of state.pending) item.sent = false;
  renderPending();
}

/** Connected again: sends what is still unconfirmed, with its first `client_id`. */
export function resendPending() {
  for (const item of state.pending) if (!item.sent) item.sent = send(frameOf(item));
  renderPending();
}

/** Our sends in the open conversation that the server has not confirmed yet. */
export function renderPending() {
  const waiting = state.open ? state.pending.filter((item) => item.conversationId === state.openId) : [];
  ui.pendingList.replaceChildren(...waiting.map((item) => {
    const li = document.createElement('li');
    li.className = 'message mine pending';
    li.dataset.clientId = item.clientId;
    const body = document.createElement('p');
    body.className = 'pending-content';
    body.textContent = item.content;
    const status = document.createElement('p');
    status.className = 'receipt';
    status.textContent = isConnected() ? 'Sending…' : 'Not sent yet: will be sent when the connection is back';
    li.append(body, status);
    return li;
  }));
  ui.pendingList.hidden = waiting.length === 0;
}

