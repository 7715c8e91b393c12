// Typing, both ways: "X is typing…" for the other side, forgotten on its own after a while, and
// our own `chat.typing`, sent at most once a second and ended when we stop.
import { ui } from './dom.js';
import { renderConversations } from './list.js';
import { isConnected, send } from './socket.js';
import { openItem, otherParticipants, peerId, state } from './state.js';

const TYPING_SEND_INTERVAL_MS = 1000; // send "typing" at most this often
const TYPING_IDLE_MS = 2000; // stop typing after this long without a key
const TYPING_EXPIRY_MS = 2000; // forget a peer's "typing" this long after the last one

const own = {
  sentAt: 0,
  idleTimer: null,
  to: null, // receiver id we told "typing: true"
};

export function onPeerTyping(senderId, isTyping) {
  if (typeof senderId !== 'number') return;
  clearTimeout(state.peerTyping.get(senderId));
  if (isTyping) {
    state.peerTyping.set(senderId, setTimeout(() => clearPeerTyping(senderId), TYPING_EXPIRY_MS));
  } else {
    state.peerTyping.delete(senderId);
  }
  renderTyping();
  renderConversations();
}

export function clearPeerTyping(senderId) {
  if (!state.peerTyping.has(senderId)) return;
  clearTimeout(state.peerTyping.get(senderId));
  state.peerTyping.delete(senderId);
  renderTyping();
  renderConversations();
}

/** The typing line in the open conversation's header. */
export function renderTyping() {
  const conversation = openItem();
  const names = conversation
    ? otherParticipants(conversation).filter((p) => state.peerTyping.has(p.id)).map((p) => p.username)
    : [];
  const text = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
  if (ui.typing.textContent !== text) ui.typing.textContent = text;
}

/** The composer's text changed: we are typing, or stopped when it is empty. */
export function onOwnInput() {
  const conversation = openItem();
  const receiver = conversation ? peerId(conversation) : null;
  if (receiver === null || !isConnected()) return;
  if (ui.input.value.trim() === '') {
    stopOwnTyping(true);
    return;
  }
  const now = Date.now();
  if (own.to !== receiver || now - own.sentAt >= TYPING_SEND_INTERVAL_MS) {
    if (send({ type: 'chat.typing', receiver_id: receiver, is_typing: true })) {
      own.sentAt = now;
      own.to = receiver;
    }
  }
  clearTimeout(own.idleTimer);
  own.idleTimer = setTimeout(() => stopOwnTyping(true), TYPING_IDLE_MS);
}

/** Ends our "typing" state; tells the receiver when `notify` and we had said we were typing. */
export function stopOwnTyping(notify) {
  clearTimeout(own.idleTimer);
  own.idleTimer = null;
  if (own.to !== null && notify) {
    send({ type: 'chat.typing', receiver_id: own.to, is_typing: false });
  }
  own.to = null;
  own.sentAt = 0;
}

/** Forgets all typing, ours and theirs, without telling anyone (logging out). */
export function resetTyping() {
  stopOwnTyping(false);
  for (const timer of state.peerTyping.values()) clearTimeout(timer);
  state.peerTyping.clear();
}
