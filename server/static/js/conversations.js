// The conversations and the open one's history, as the server's frames change them: the list,
// opening and closing a conversation, paging history in, live messages and receipts, messages
// edited, deleted or reacted to (`chat.message_updated`), groups created, changed or left
// (`chat.conversation_updated`), and who is online (the list's participants, `chat.presence`).
import { onTargetChanged } from './composer.js';
import { setChatError, ui } from './dom.js';
import { renderConversations } from './list.js';
import { onEcho } from './outbox.js';
import { deliver, markReadIfVisible } from './receipts.js';
import { clearSearch } from './search.js';
import { isConnected, send } from './socket.js';
import {
  conversationFields,
  conversationName,
  isGroup,
  isMine,
  mentionsMe,
  newestId,
  oldestId,
  openItem,
  otherParticipants,
  presenceOf,
  rank,
  state,
} from './state.js';
import {
  nearBottom,
  renderHeader,
  renderMessage,
  renderOpenConversation,
  renderPresence,
  renderReceipts,
  scrollToBottom,
} from './thread.js';
import { clearPeerTyping, stopOwnTyping } from './typing.js';

const PAGE_SIZE = 50; // messages per history page
const MAX_MESSAGES = 5000; // messages kept for the open conversation

/** Wires the list, the back button and Escape, and paging on scrolling up. */
export function initConversations() {
  // The list is rebuilt on every change: one listener for all its items.
  ui.conversationList.addEventListener('click', (event) => {
    const item = event.target.closest('.conversation-item');
    if (item) openConversation(Number(item.dataset.conversationId));
  });
  ui.back.addEventListener('click', closeConversation);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && document.body.classList.contains('conversation-open') && !ui.chatView.hidden) {
      closeConversation();
    }
  });
  ui.scroller.addEventListener('scroll', () => {
    if (ui.scroller.scrollTop < 80) requestOlder();
  });
}

export function onConversations(list) {
  if (!Array.isArray(list)) return;
  takePresence(list);
  const fresh = new Map();
  for (const item of list) {
    const unread = typeof item.unread_count === 'number' ? item.unread_count : item.has_unread ? 1 : 0;
    const known = state.conversations.get(item.id);
    fresh.set(item.id, {
      id: item.id,
      ...conversationFields(item),
      last: item.last_message || null,
      unread,
      ...uncounted(item.last_message ? item.last_message.id : 0),
      // A mention stays flagged while what it came with is unread.
      mentioned: !!known && known.mentioned && unread > 0,
    });
  }
  // Keep a conversation just started locally that the list does not have yet.
  if (state.openId !== null && !fresh.has(state.openId) && state.conversations.has(state.openId)) {
    fresh.set(state.openId, state.conversations.get(state.openId));
  }
  state.conversations = fresh;
  state.order = [...fresh.values()]
    .sort((a, b) => activity(b) - activity(a) || b.id - a.id)
    .map((c) => c.id);
  state.conversationsRequested = false;
  const open = openItem();
  if (open && open.unread > 0) {
    state.open.needsRead = true;
    markReadIfVisible();
  }
  renderConversations();
  renderHeader();
}

/**
 * Everyone's presence as the list has it: each participant's `online` and `last_seen` (neither
 * when they hide it). Presence is per person; the list says it afresh.
 */
function takePresence(list) {
  state.presence.clear();
  for (const item of list) {
    for (const p of Array.isArray(item.participants) ? item.participants : []) {
      const id = p.user__id !== undefined ? p.user__id : p.id;
      if (typeof p.online !== 'boolean' || (state.me && id === state.me.id)) continue;
      state.presence.set(id, { online: p.online, lastSeen: typeof p.last_seen === 'string' ? p.last_seen : null });
    }
  }
}

/**
 * `chat.presence`: someone we share a conversation with came online or went offline; offline
 * without `last_seen` means they hide their presence from now on.
 */
export function onPresence(userId, status, lastSeen) {
  if (typeof userId !== 'number' || (state.me && userId === state.me.id)) return;
  const seen = typeof lastSeen === 'string' ? lastSeen : null;
  if (status === 'online') state.presence.set(userId, { online: true, lastSeen: seen });
  else if (status === 'offline' && seen !== null) state.presence.set(userId, { online: false, lastSeen: seen });
  else state.presence.delete(userId);
  renderConversations();
  renderPresence();
}

function activity(conversation) {
  return conversation.last ? Date.parse(conversation.last.timestamp) || 0 : 0;
}

function touchConversation(id) {
  state.order = [id, ...state.order.filter((x) => x !== id)];
}

export function onConversationStarted(conversation) {
  if (!conversation || typeof conversation.id !== 'number') return;
  rememberConversation(conversation);
  // Its frame says nothing of presence, nor does the server tell of people just met: the list does.
  const known = state.conversations.get(conversation.id);
  if (!state.conversationsRequested && otherParticipants(known).some((p) => !presenceOf(p.id))) {
    state.conversationsRequested = send({ type: 'chat.get_conversations' });
  }
  ui.searchInput.value = '';
  clearSearch();
  openConversation(conversation.id);
}

/** Adds a conversation the list lacks, or takes a known one's members and group fields. */
function rememberConversation(conversation) {
  const known = state.conversations.get(conversation.id);
  if (known) {
    Object.assign(known, conversationFields(conversation));
    return;
  }
  state.conversations.set(conversation.id, {
    id: conversation.id,
    ...conversationFields(conversation),
    last: null,
    unread: 0,
    mentioned: false,
    ...uncounted(0),
  });
  touchConversation(conversation.id);
}

/**
 * What an unread count is made of: the list's count holds the messages up to `countedTo` (the
 * newest it showed); later ones are counted once each, as `counted` remembers (a sync may replay
 * a message that came live, or live ones may arrive during a sync).
 */
function uncounted(countedTo) {
  return { countedTo, counted: new Set() };
}

const MAX_COUNTED = 2000; // ids remembered per conversation; older ones are long past any replay

/** Counts a message from someone else as unread, once. */
function countUnread(conversation, message) {
  if (message.id <= conversation.countedTo || conversation.counted.has(message.id)) return;
  conversation.counted.add(message.id);
  if (conversation.counted.size > MAX_COUNTED) conversation.counted.delete(conversation.counted.values().next().value);
  conversation.unread += 1;
}

/**
 * A group was created, renamed, or its members, roles or our mute changed: keep the list and the
 * open conversation in step. `left`: we are no longer a member; the conversation goes.
 */
export function onConversationUpdated(conversation, left) {
  if (!conversation || typeof conversation.id !== 'number') return;
  if (!left) {
    rememberConversation(conversation);
  } else {
    const known = state.conversations.get(conversation.id);
    state.conversations.delete(conversation.id);
    state.order = state.order.filter((x) => x !== conversation.id);
    for (const key of [...state.peerTyping.keys()]) {
      if (key.startsWith(`${conversation.id}:`)) {
        clearTimeout(state.peerTyping.get(key));
        state.peerTyping.delete(key);
      }
    }
    if (state.openId === conversation.id) {
      stopOwnTyping(false);
      state.openId = null;
      state.open = null;
      state.composing = null;
      ui.messageList.replaceChildren();
      ui.input.value = '';
      document.body.classList.remove('conversation-open');
      setChatError(`You are no longer a member of “${conversationName(known || conversationFields(conversation))}”.`);
    }
  }
  renderConversations();
  renderOpenConversation();
}

function openConversation(id) {
  const conversation = state.conversations.get(id);
  if (!conversation) return;
  if (state.openId !== id) {
    stopOwnTyping(true);
    state.openId = id;
    state.open = {
      messages: new Map(),
      hasMore: false,
      loadingOlder: false,
      needsRead: conversation.unread > 0,
      loaded: false,
      elements: new Map(),
      syncedTo: null,
    };
    ui.messageList.replaceChildren();
    state.composing = null;
    ui.input.value = '';
    setChatError('');
    requestNewest(id);
  }
  document.body.classList.add('conversation-open');
  renderConversations();
  renderOpenConversation();
  ui.input.focus();
}

function closeConversation() {
  document.body.classList.remove('conversation-open');
  const button = ui.conversationList.querySelector(`[data-conversation-id="${state.openId}"]`);
  if (button) button.focus();
  else ui.searchInput.focus();
}

/** The connection dropped: the catch-up page will be compared with what we had until now. */
export function onConnectionLost() {
  if (state.open && state.open.loaded && state.open.syncedTo === null) state.open.syncedTo = newestId(state.open);
}

export function requestNewest(id) {
  send({ type: 'chat.get_messages', conversation_id: id, limit: PAGE_SIZE });
}

function requestOlder() {
  const open = state.open;
  if (!open || !open.hasMore || open.loadingOlder || !isConnected()) return;
  if (open.messages.size >= MAX_MESSAGES) {
    ui.historyStatus.textContent = 'Older messages are not loaded here.';
    return;
  }
  const oldest = oldestId(open);
  if (oldest === null) return;
  open.loadingOlder = true;
  ui.historyStatus.textContent = 'Loading older messages…';
  send({ type: 'chat.get_messages', conversation_id: state.openId, before_id: oldest, limit: PAGE_SIZE });
}

export function onMessages(frame) {
  const messages = Array.isArray(frame.messages) ? frame.messages : [];
  const id = typeof frame.conversation_id === 'number'
    ? frame.conversation_id
    : messages.length ? messages[0].conversation_id : state.openId;
  const open = state.open;
  if (id !== state.openId || !open) return; // an answer for a conversation since closed
  const hasMore = typeof frame.has_more === 'boolean' ? frame.has_more : messages.length >= PAGE_SIZE;
  const oldest = oldestId(open);
  // Catching up after a drop: what came live since (a retried send's echo) says nothing about a gap.
  const newest = open.syncedTo !== null ? open.syncedTo : newestId(open);
  const wasNearBottom = nearBottom();
  // An older page (answering before_id) lies wholly before what we have; anything else is the
  // newest page, first loaded or fetched again to catch up.
  const firstLoad = !open.loaded;
  const older = !firstLoad && oldest !== null && messages.length > 0 && messages.every((m) => m.id < oldest);

  if (messages.length === 0) {
    open.hasMore = false; // nothing before before_id, or an empty conversation
  } else if (older || firstLoad) {
    open.hasMore = hasMore;
  } else if (newest !== null && hasMore && messages[0].id > newest) {
    // A gap between what we had and this newest page: start over from it.
    open.messages.clear();
    open.elements.clear();
    ui.messageList.replaceChildren();
    open.hasMore = true;
  }
  if (older || messages.length === 0) open.loadingOlder = false;
  if (!older) open.syncedTo = null;

  const heightBefore = ui.scroller.scrollHeight;
  const topBefore = ui.scroller.scrollTop;
  for (const m of messages) {
    if (m.conversation_id !== id) continue;
    storeMessage(m);
    if (!isMine(m) && m.is_read === false) open.needsRead = true;
  }
  open.loaded = true;
  renderOpenConversation();
  if (older) {
    // Keep what the reader was looking at in place above the new page.
    ui.scroller.scrollTop = topBefore + (ui.scroller.scrollHeight - heightBefore);
  } else if (wasNearBottom || firstLoad) {
    scrollToBottom();
  }
  markReadIfVisible();
  // A short first page may not fill the screen: keep loading until it scrolls.
  if (open.hasMore && !open.loadingOlder && ui.scroller.scrollHeight <= ui.scroller.clientHeight) requestOlder();
}

/**
 * Adds or updates a message of the open conversation, keeping the best known status; a known
 * message that was edited, deleted or reacted to meanwhile is drawn again. True when it is new.
 */
function storeMessage(message) {
  const open = state.open;
  const known = open.messages.get(message.id);
  if (known) {
    if (rank(message.status) > rank(known.status)) known.status = message.status;
    if (message.is_read) known.is_read = true;
    if (lifecycleKey(known) !== lifecycleKey(message)) {
      Object.assign(known, pick(message, LIFECYCLE));
      known.mentions = message.mentions; // read again on an edit; none on a tombstone
      renderMessage(message.id);
      refreshReplies(known);
      onTargetChanged(known);
    }
    return false;
  }
  open.messages.set(message.id, { ...message });
  if (open.messages.size > MAX_MESSAGES) {
    const drop = oldestId(open);
    open.messages.delete(drop);
    const el = open.elements.get(drop);
    if (el) el.remove();
    open.elements.delete(drop);
    open.hasMore = true;
  }
  return true;
}

// What an edit, a delete or a reaction changes in a message.
const LIFECYCLE = ['content', 'edited_at', 'deleted', 'reactions', 'reply_to'];

function pick(message, keys) {
  const out = {};
  for (const key of keys) if (message[key] !== undefined) out[key] = message[key];
  return out;
}

function lifecycleKey(message) {
  return JSON.stringify(pick(message, LIFECYCLE));
}

/** Replies loaded here quote the message as it reads now (the server's excerpt: 100 characters). */
function refreshReplies(original) {
  for (const m of state.open.messages.values()) {
    if (!m.reply_to || m.reply_to.id !== original.id) continue;
    const excerpt = original.deleted ? '' : [...original.content].slice(0, 100).join('');
    if (m.reply_to.excerpt === excerpt && m.reply_to.deleted === !!original.deleted) continue;
    m.reply_to = { ...m.reply_to, excerpt, deleted: !!original.deleted };
    renderMessage(m.id);
  }
}

/** The list's preview of a message: its fields, with the sender flattened as the list has it. */
function asLast(message) {
  return { ...message, sender_id: message.sender.id, sender_username: message.sender.username };
}

/** `chat.message_updated`: the message as it now is, replacing the one with its id. */
export function onMessageUpdated(message) {
  if (!message || typeof message.id !== 'number' || !message.sender) return;
  const conversation = state.conversations.get(message.conversation_id);
  if (conversation && conversation.last && conversation.last.id === message.id) {
    conversation.last = asLast(message);
    renderConversations();
  }
  if (message.conversation_id === state.openId && state.open && state.open.messages.has(message.id)) {
    storeMessage(message);
  }
}

/** A `chat.message`; `seq`, the event's, when it has one (a retried send's answer has none). */
export function onMessage(message, seq) {
  if (!message || typeof message.id !== 'number') return;
  onEcho(message);
  const id = message.conversation_id;
  const conversation = state.conversations.get(id);
  const mine = isMine(message);
  // System messages never count as unread.
  const counts = !mine && !message.is_system;
  // Received: tell the sender, unless the chat.read sent for the open, visible conversation
  // is about to say more.
  const readNow = id === state.openId && document.visibilityState === 'visible';
  if (!mine && !readNow) deliver(id, message.id);
  if (conversation && (!conversation.last || conversation.last.id <= message.id)) {
    // (A retried send is answered with the message first stored, which may be older.)
    conversation.last = asLast(message);
    touchConversation(id);
    if (!mine && mentionsMe(message) && !readNow) conversation.mentioned = true;
  } else if (!conversation && !state.conversationsRequested) {
    // A conversation someone else started with us: fetch the list to learn its participants.
    state.conversationsRequested = send({ type: 'chat.get_conversations' });
  }
  if (id === state.openId && state.open) {
    const wasNearBottom = nearBottom();
    // Seen on a hidden tab: count it unread until the tab is looked at.
    if (counts && conversation && document.visibilityState !== 'visible') countUnread(conversation, message);
    const added = storeMessage(message);
    if (added && typeof seq === 'number') state.open.messages.get(message.id).seq = seq;
    if (!mine && added) {
      state.open.needsRead = true;
      clearPeerTyping(id, message.sender.id);
    }
    renderOpenConversation();
    if (wasNearBottom || mine) scrollToBottom();
    markReadIfVisible();
  } else if (conversation && counts) {
    countUnread(conversation, message);
  }
  renderConversations();
}

export function onMessageStatus(messageId, status) {
  if (!state.open) return;
  const message = state.open.messages.get(messageId);
  if (!message || rank(status) <= rank(message.status)) return;
  message.status = status;
  renderReceipts();
}

/** `chat.read`; `seq`, the event's: a replayed read says nothing of messages sent after it. */
export function onRead(conversationId, readerId, seq) {
  const conversation = state.conversations.get(conversationId);
  if (state.me && readerId === state.me.id) {
    // Read on another of our own connections.
    if (conversation) Object.assign(conversation, { unread: 0, mentioned: false });
    renderConversations();
    return;
  }
  // In a group chat.read reaches only the reader's own connections; statuses come one by one.
  if (conversationId !== state.openId || !state.open || (conversation && isGroup(conversation))) return;
  for (const message of state.open.messages.values()) {
    if (isMine(message) && !(typeof seq === 'number' && typeof message.seq === 'number' && message.seq > seq)) {
      message.status = 'seen';
      message.is_read = true;
    }
  }
  renderReceipts();
}
