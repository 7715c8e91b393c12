// What the page knows: the signed-in user, the conversations, the open one and its messages, who
// is typing and who is online. Plain data and questions about it; no element and no socket here.

const STATUS_RANK = { sent: 0, delivered: 1, seen: 2 };

export const state = {
  me: null, // {id, username}
  // id -> {id, participants:[{id,username,role}], last: message|null, unread, kind, title,
  //        memberCount, muted, mentioned}; kind 'direct' or 'group' (a missing kind is direct)
  conversations: new Map(),
  order: [], // conversation ids, most recent activity first
  conversationsRequested: false,
  openId: null,
  // {messages: Map id->message, hasMore, loadingOlder, needsRead, loaded, elements: Map,
  //  syncedTo: the newest id known before the connection dropped, until the catch-up page or
  //  the sync comes}; a message that came in a frame with a `seq` keeps it as `seq`
  open: null,
  peerTyping: new Map(), // typingKey(conversation id, user id) -> timer id
  // Sends not yet echoed, oldest first (outbox.js): {clientId, conversationId, content, replyTo,
  // sent} where `sent` means handed to the current socket.
  pending: [],
  // What the composer is doing besides writing a new message: null, or {kind: 'reply' |
  // 'edit', messageId, draft} (`draft`: the text the box held before an edit began).
  composing: null,
  // Other users' presence: user id -> {online, lastSeen: ISO time or null}, from the list's
  // participants and `chat.presence`; no entry while unknown or hidden by its user.
  presence: new Map(),
  presenceVisible: true, // whether others see ours (chat.welcome, chat.presence_set)
  presenceAsked: false, // a chat.set_presence awaits its chat.presence_set
};

/** Forgets the signed-in user and everything shown for them. */
export function forgetUser() {
  Object.assign(state, {
    me: null,
    conversationsRequested: false,
    openId: null,
    open: null,
    pending: [],
    composing: null,
    presenceVisible: true,
    presenceAsked: false,
  });
  state.conversations.clear();
  state.presence.clear();
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

export function isGroup(conversation) {
  return conversation.kind === 'group';
}

export function conversationName(conversation) {
  if (isGroup(conversation)) return conversation.title || 'Group';
  return otherParticipants(conversation).map((p) => p.username).join(', ') || 'Conversation';
}

/** The other person of a direct conversation; null in a group. */
export function peerId(conversation) {
  if (isGroup(conversation)) return null;
  const others = conversation.participants.filter((p) => !state.me || p.id !== state.me.id);
  return others.length === 1 ? others[0].id : null;
}

/** What the page knows of a user's presence ({online, lastSeen}), or null: unknown or hidden. */
export function presenceOf(userId) {
  return state.presence.get(userId) || null;
}

/** The other members of a group known to be online, in its participants' order. */
export function onlineMembers(conversation) {
  return otherParticipants(conversation).filter((p) => {
    const presence = presenceOf(p.id);
    return !!presence && presence.online;
  });
}

/** The key of one person's "typing" in one conversation. */
export function typingKey(conversationId, userId) {
  return `${conversationId}:${userId}`;
}

/** The other members typing in `conversation`, in its participants' order. */
export function typingMembers(conversation) {
  return otherParticipants(conversation).filter((p) => state.peerTyping.has(typingKey(conversation.id, p.id)));
}

export function isPeerTyping(conversation) {
  return typingMembers(conversation).length > 0;
}

/** Our own role in a group (`owner`, `admin` or `member`), or null. */
export function myRole(conversation) {
  const me = state.me && conversation.participants.find((p) => p.id === state.me.id);
  return me ? me.role || null : null;
}

/** A message a person can act on: not a system message, not deleted. */
export function isLive(message) {
  return !!message && !message.is_system && !message.deleted;
}

/** Only the sender edits (docs/protocol.md, chat.edit). */
export function canEdit(message) {
  return isLive(message) && isMine(message);
}

/** The sender deletes; in a group its owner and admins delete anyone's too. */
export function canDelete(message) {
  if (!isLive(message)) return false;
  if (isMine(message)) return true;
  const conversation = state.conversations.get(message.conversation_id);
  return !!conversation && isGroup(conversation) && ['owner', 'admin'].includes(myRole(conversation));
}

/** Our newest message in the open conversation that can still be edited, or null. */
export function lastEditable() {
  if (!state.open) return null;
  let last = null;
  for (const m of state.open.messages.values()) if (canEdit(m) && (!last || m.id > last.id)) last = m;
  return last;
}

/** A username for a user id, from the open conversation's members; null when unknown. */
export function usernameOf(userId) {
  if (state.me && userId === state.me.id) return state.me.username;
  const conversation = openItem();
  const member = conversation && conversation.participants.find((p) => p.id === userId);
  return member ? member.username : null;
}

/** Whether the message names us among its `mentions`. */
export function mentionsMe(message) {
  return !!state.me && Array.isArray(message.mentions) && message.mentions.includes(state.me.id);
}

export function normalizeParticipants(list) {
  return (Array.isArray(list) ? list : []).map((p) => ({
    id: p.id !== undefined ? p.id : p.user__id,
    username: p.username !== undefined ? p.username : p.user__username,
    role: p.role || null,
  }));
}

/**
 * What a `CONVERSATION` or `CONVERSATION_ITEM` says about a conversation itself: its members and
 * the group fields, which a direct conversation leaves out (missing `kind` is direct, missing
 * `muted` is false).
 */
export function conversationFields(raw) {
  const participants = normalizeParticipants(raw.participants);
  return {
    participants,
    kind: raw.kind === 'group' ? 'group' : 'direct',
    title: typeof raw.title === 'string' ? raw.title : null,
    memberCount: typeof raw.member_count === 'number' ? raw.member_count : participants.length,
    muted: raw.muted === true,
  };
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
