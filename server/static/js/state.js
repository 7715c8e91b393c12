// What the page knows: the signed-in user, the conversations, the open one and its messages, and
// who is typing. Plain data and questions about it; no element and no socket here.

const STATUS_RANK = { sent: 0, delivered: 1, seen: 2 };

export const state = {
  me: null, // {id, username}
  conversations: new Map(), // id -> {id, participants:[{id,username}], last: message|null, unread}
  order: [], // conversation ids, most recent activity first
  conversationsRequested: false,
  openId: null,
  open: null, // {messages: Map id->message, hasMore, loadingOlder, needsRead, loaded, elements: Map}
  peerTyping: new Map(), // user id -> timer id
  unsent: null, // {conversationId, content} of the last message sent and not yet echoed
};

/** Forgets the signed-in user and everything shown for them. */
export function forgetUser() {
  Object.assign(state, {
    me: null,
    conversationsRequested: false,
    openId: null,
    open: null,
    unsent: null,
  });
  state.conversations.clear();
  state.order = [];
}

/** The list item of the open conversation, or null. */
export function openItem() {
  return state.openId !== null ? state.conversations.get(state.openId) : null;
}

export function isMine(message) {
  return !!state.me && !!message.sender && message.sender.id === state.me.id;
}

export function otherParticipants(conversation) {
  const me = state.me ? state.me.id : null;
  const others = conversation.participants.filter((p) => p.id !== me);
  return others.length ? others : conversation.participants;
}

export function conversationName(conversation) {
  return otherParticipants(conversation).map((p) => p.username).join(', ') || 'Conversation';
}

export function peerId(conversation) {
  const others = conversation.participants.filter((p) => !state.me || p.id !== state.me.id);
  return others.length === 1 ? others[0].id : null;
}

export function isPeerTyping(conversation) {
  return otherParticipants(conversation).some((p) => state.peerTyping.has(p.id));
}

export function normalizeParticipants(list) {
  return (Array.isArray(list) ? list : []).map((p) => ({
    id: p.id !== undefined ? p.id : p.user__id,
    username: p.username !== undefined ? p.username : p.user__username,
  }));
}

export function rank(status) {
  return status in STATUS_RANK ? STATUS_RANK[status] : -1;
}

export function oldestId(open) {
  let min = null;
  for (const id of open.messages.keys()) if (min === null || id < min) min = id;
  return min;
}

export function newestId(open) {
  let max = null;
  for (const id of open.messages.keys()) if (max === null || id > max) max = id;
  return max;
}
