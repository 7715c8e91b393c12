// Typing, both ways: "X is typing…" (in a group "alice and bob are typing…") for the others,
// forgotten on its own after a while, and our own `chat.typing`, sent at most once a second and
// ended when we stop: to the other person of a direct conversation by `receiver_id`, as the spec
// has it, and to a group by `conversation_id`.
import { ui } from './dom.js';
import { renderConversations } from './list.js';
import { isConnected, send } from './socket.js';
import { isGroup, openItem, peerId, state, typingKey, typingMembers } from './state.js';

const TYPING_SEND_INTERVAL_MS = 1000; // send "typing" at most this often
const TYPING_IDLE_MS = 2000; // stop typing after this long without a key
const TYPING_EXPIRY_MS = 2000; // forget a peer's "typing" this long after the last one

const own = {
  sentAt: 0,
  idleTimer: null,
  to: null, // whom we told "typing: true": {receiver_id} or {conversation_id}, as sent
};

/**
 * A `chat.typing` from someone else. The frame names the conversation; without it (an older
 * server) it is the direct conversation with the sender.
 */
export function onPeerTyping(senderId, conversationId, isTyping) {
  if (typeof senderId !== 'number') return;
  const id = typeof conversationId === 'number' ? conversationId : directWith(senderId);
  if (id === null) return;
  const key = typingKey(id, senderId);
  clearTimeout(state.peerTyping.get(key));
  if (isTyping) {
    state.peerTyping.set(key, setTimeout(() => clearPeerTyping(id, senderId), TYPING_EXPIRY_MS));
  } else {
    state.peerTyping.delete(key);
  }
  renderTyping();
  renderConversations();
}

function directWith(userId) {
  for (const c of state.conversations.values()) if (peerId(c) === userId) return c.id;
  return null;
}

export function clearPeerTyping(conversationId, senderId) {
  const key = typingKey(conversationId, senderId);
  if (!state.peerTyping.has(key)) return;
  clearTimeout(state.peerTyping.get(key));
  state.peerTyping.delete(key);
  renderTyping();
  renderConversations();
}

/** "bob is typing…", "alice and bob are typing…", "alice, bob and carol are typing…". */
export function typingText(names) {
  if (!names.length) return '';
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  return `${list} ${names.length > 1 ? 'are' : 'is'} typing…`;
}

/** The typing line in the open conversation's header. */
export function renderTyping() {
  const conversation = openItem();
  const text = conversation ? typingText(typingMembers(conversation).map((p) => p.username)) : '';
  if (ui.typing.textContent !== text) ui.typing.textContent = text;
}

/** Where our `chat.typing` for `conversation` goes, or null when nowhere. */
function typingTarget(conversation) {
  if (isGroup(conversation)) return { conversation_id: conversation.id };
  const receiver = peerId(conversation);
  return receiver === null ? null : { receiver_id: receiver };
}

function sameTarget(a, b) {
  return !!a && !!b && a.receiver_id === b.receiver_id && a.conversation_id === b.conversation_id;
}

/** The composer's text changed: we are typing, or stopped when it is empty. */
export function onOwnInput() {
  const conversation = openItem();
  const target = conversation ? typingTarget(conversation) : null;
  if (target === null || !isConnected()) return;
  if (ui.input.value.trim() === '') {
    stopOwnTyping(true);
    return;
  }
  const now = Date.now();
  if (!sameTarget(own.to, target) || now - own.sentAt >= TYPING_SEND_INTERVAL_MS) {
    if (send({ type: 'chat.typing', ...target, is_typing: true })) {
      own.sentAt = now;
      own.to = target;
    }
  }
  clearTimeout(own.idleTimer);
  own.idleTimer = setTimeout(() => stopOwnTyping(true), TYPING_IDLE_MS);
}

/** Ends our "typing" state; tells whom we told when `notify` and we had said we were typing. */
export function stopOwnTyping(notify) {
  clearTimeout(own.idleTimer);
  own.idleTimer = null;
  if (own.to !== null && notify) {
    send({ type: 'chat.typing', ...own.to, is_typing: false });
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
