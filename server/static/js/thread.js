// Rendering the open conversation: its header (with the other person's presence, "online" or
// "last seen 5 min ago", or in a group "3 online"), its messages in id order (new elements are
// inserted, existing ones left alone for screen readers, a changed one replaced), the history
// line and the receipts. A message shows what it answers, an
// "(edited)" mark, its reactions as chips, or "message deleted"; its action buttons carry
// `data-action` for actions.js. In a group: sender names, system messages styled apart, mentions
// marked, a "Read by" button under our own messages, and the members panel.
import { updateComposer } from './composer.js';
import { ui } from './dom.js';
import { renderMembers } from './groups.js';
import { presenceWords } from './list.js';
import { renderPending } from './outbox.js';
import { renderReaders, requestReceipts } from './readers.js';
import {
  canDelete,
  canEdit,
  conversationName,
  isGroup,
  isLive,
  isMine,
  mentionsMe,
  onlineMembers,
  openItem,
  otherParticipants,
  peerId,
  presenceOf,
  state,
  usernameOf,
} from './state.js';
import { renderTyping } from './typing.js';

export function nearBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
}

export function scrollToBottom() {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

export function renderHeader() {
  const conversation = openItem();
  ui.title.textContent = conversation ? conversationName(conversation) : 'No conversation open';
  renderPresence();
  renderTyping();
  renderMembers();
  renderReaders();
}

/**
 * The header's presence line, as it reads now: the other person's ("online", "last seen 5 min
 * ago", the full time in its title), or how many other members of a group are online (their
 * names in its title); empty when no one's presence is known.
 */
export function renderPresence() {
  const conversation = openItem();
  let text = '';
  let title = '';
  let status = '';
  if (conversation && isGroup(conversation)) {
    if (otherParticipants(conversation).some((p) => presenceOf(p.id))) {
      const online = onlineMembers(conversation);
      text = `${online.length} online`;
      title = online.map((p) => p.username).join(', ');
      status = online.length ? 'online' : 'offline';
    }
  } else if (conversation) {
    const peer = peerId(conversation);
    const words = peer === null ? null : presenceWords(presenceOf(peer), Date.now());
    if (words) ({ text, title, status } = words);
  }
  const line = ui.presenceLine;
  if (line.textContent !== text) line.textContent = text;
  if (line.title !== title) line.title = title;
  line.dataset.status = status;
  line.hidden = !text;
}

export function renderOpenConversation() {
  const open = state.open;
  ui.placeholder.hidden = !!open;
  ui.composer.hidden = !open;
  renderHeader();
  updateComposer();
  if (!open) {
    ui.historyStatus.textContent = '';
    return;
  }
  const ids = [...open.messages.keys()].sort((a, b) => a - b);
  // Insert new message elements in id order, leaving existing ones (and screen readers) alone.
  let next = null;
  for (let i = ids.length - 1; i >= 0; i -= 1) {
    const id = ids[i];
    let el = open.elements.get(id);
    if (!el) {
      el = messageElement(open.messages.get(id));
      open.elements.set(id, el);
      ui.messageList.insertBefore(el, next);
    }
    next = el;
  }
  if (!open.loaded) ui.historyStatus.textContent = 'Loading messages…';
  else if (open.loadingOlder) ui.historyStatus.textContent = 'Loading older messages…';
  else if (open.hasMore) ui.historyStatus.textContent = 'Scroll up for older messages.';
  else ui.historyStatus.textContent = ids.length ? 'Start of the conversation.' : 'No messages yet. Say hello!';
  renderReceipts();
  renderPending();
}

/** Draws a message of the open conversation again after it changed (edit, delete, reactions). */
export function renderMessage(id) {
  const open = state.open;
  const old = open && open.elements.get(id);
  if (!old) return;
  const el = messageElement(open.messages.get(id));
  const refocus = old.contains(document.activeElement);
  // An open menu or picker (actions.js) stays with its message while it can still be acted on.
  const popups = isLive(open.messages.get(id)) ? old.querySelectorAll(':scope > .popup') : [];
  for (const popup of popups) el.append(popup);
  if (popups.length) el.classList.add('has-popup');
  old.replaceWith(el);
  open.elements.set(id, el);
  renderReceipts();
  if (refocus) el.focus({ preventScroll: true });
}

/** Scrolls to a loaded message, focuses it and marks it for a moment; false when not loaded. */
export function showMessage(id) {
  const el = state.open && state.open.elements.get(id);
  if (!el) return false;
  el.scrollIntoView({ block: 'center' });
  el.focus({ preventScroll: true });
  el.classList.remove('flash');
  void el.offsetWidth; // restart the animation
  el.classList.add('flash');
  return true;
}

function messageElement(message) {
  const li = document.createElement('li');
  li.className = 'message';
  li.dataset.messageId = String(message.id);
  if (!message.is_system) {
    // Reached with the arrow keys from the message list (actions.js); its keys are described.
    li.tabIndex = -1;
    li.setAttribute('aria-describedby', 'message-keys');
  }
  if (message.deleted) li.classList.add('deleted');
  if (message.is_system) li.classList.add('system');
  else if (isMine(message)) li.classList.add('mine');
  else li.classList.add('theirs');
  if (message.event && message.event.kind) li.dataset.event = message.event.kind;
  if (!isMine(message) && mentionsMe(message)) li.classList.add('mentions-me');

  const meta = document.createElement('p');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'sender';
  who.textContent = message.is_system ? 'System' : isMine(message) ? 'You' : message.sender.username;
  const time = document.createElement('time');
  const when = new Date(message.timestamp);
  if (!Number.isNaN(when.getTime())) {
    time.dateTime = message.timestamp;
    time.textContent = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    time.title = when.toLocaleString();
  }
  meta.append(who, ' ', time);
  if (message.edited_at && !message.deleted) {
    const edited = document.createElement('span');
    edited.className = 'edited';
    edited.textContent = '(edited)';
    const at = new Date(message.edited_at);
    if (!Number.isNaN(at.getTime())) edited.title = `Edited ${at.toLocaleString()}`;
    meta.append(' ', edited);
  }
  const conversation = openItem();
  const group = !!conversation && isGroup(conversation);
  if (group && isMine(message) && !message.is_system) {
    const readers = document.createElement('button');
    readers.type = 'button';
    readers.className = 'readers-button link';
    readers.textContent = 'Read by…';
    readers.setAttribute('aria-label', 'Who has read this message');
    readers.addEventListener('click', () => requestReceipts(message.id, readers));
    meta.append(' ', readers);
  }

  const body = document.createElement('p');
  body.className = 'content';
  if (message.deleted) {
    body.textContent = 'message deleted';
  } else if (group && Array.isArray(message.mentions) && message.mentions.length) {
    const names = conversation.participants.filter((p) => message.mentions.includes(p.id)).map((p) => p.username);
    body.append(...withMentions(message.content, names));
  } else {
    body.textContent = message.content;
  }

  const receipt = document.createElement('p');
  receipt.className = 'receipt';
  receipt.hidden = true;

  li.append(meta);
  if (message.reply_to) li.append(quoteElement(message.reply_to));
  li.append(body);
  if (!message.deleted && Array.isArray(message.reactions) && message.reactions.length) {
    li.append(reactionsElement(message.reactions));
  }
  if (isLive(message)) li.append(toolbarElement(message));
  li.append(receipt);
  return li;
}

/** What a reply answers, as the server quotes it; a click shows the original when loaded. */
function quoteElement(reply) {
  const quote = document.createElement('button');
  quote.type = 'button';
  quote.className = 'quote';
  quote.dataset.action = 'show-original';
  quote.dataset.target = String(reply.id);
  const sender = document.createElement('span');
  sender.className = 'quote-sender';
  const name = reply.sender ? (state.me && reply.sender.id === state.me.id ? 'You' : reply.sender.username) : '';
  sender.textContent = name;
  const excerpt = document.createElement('span');
  excerpt.className = 'quote-excerpt';
  excerpt.textContent = reply.deleted ? 'message deleted' : reply.excerpt;
  if (reply.deleted) quote.classList.add('deleted');
  quote.append(sender, ' ', excerpt);
  quote.setAttribute('aria-label', `In reply to ${name}: ${reply.deleted ? 'message deleted' : reply.excerpt}. Show it`);
  return quote;
}

/** One chip per emoji, `👍 2`; ours pressed. A click toggles our own (actions.js). */
function reactionsElement(reactions) {
  const box = document.createElement('div');
  box.className = 'reactions';
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', 'Reactions');
  for (const r of reactions) {
    const ids = Array.isArray(r.user_ids) ? r.user_ids : [];
    const mine = !!state.me && ids.includes(state.me.id);
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'reaction';
    chip.dataset.action = 'toggle-reaction';
    chip.dataset.emoji = r.emoji;
    chip.setAttribute('aria-pressed', String(mine));
    const emoji = document.createElement('span');
    emoji.className = 'reaction-emoji';
    emoji.textContent = r.emoji;
    const count = document.createElement('span');
    count.className = 'reaction-count';
    count.textContent = String(r.count);
    chip.append(emoji, ' ', count);
    const names = ids.map((id) => (state.me && id === state.me.id ? 'you' : usernameOf(id))).filter(Boolean);
    const unknown = r.count - names.length;
    if (unknown > 0) names.push(unknown === 1 ? '1 other' : `${unknown} others`);
    chip.title = names.join(', ');
    chip.setAttribute('aria-label', `${r.emoji} ${r.count}: ${names.join(', ')}${mine ? '. Press to take yours back' : '. Press to add yours'}`);
    box.append(chip);
  }
  return box;
}

/** The buttons shown on hover (always on touch screens): reply, react, and the actions menu. */
function toolbarElement(message) {
  const bar = document.createElement('div');
  bar.className = 'message-toolbar';
  const who = isMine(message) ? 'your message' : `message from ${message.sender.username}`;
  const buttons = [
    ['reply', '↩', `Reply to ${who}`],
    ['react', '☺', `React to ${who}`],
    ['menu', '⋯', `Actions for ${who}`],
  ];
  for (const [action, symbol, label] of buttons) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'toolbar-button';
    button.dataset.action = action;
    button.textContent = symbol;
    button.title = label;
    button.setAttribute('aria-label', label);
    // The message itself is the keyboard's stop (its keys do the same); no tab stop per button.
    button.tabIndex = -1;
    if (action === 'menu') {
      button.setAttribute('aria-haspopup', 'menu');
      button.setAttribute('aria-expanded', 'false');
    }
    bar.append(button);
  }
  if (canEdit(message)) bar.dataset.canEdit = 'true';
  if (canDelete(message)) bar.dataset.canDelete = 'true';
  return bar;
}

// A character a username can hold (letters, digits and @.+-_), as chat_shared::mention reads it.
const NAME_CHAR = /[\p{L}\p{N}@.+\-_]/u;
const TRAILING = /[.\-+@_]$/;

/**
 * The text as nodes, each `@name` of a mentioned member in a <mark class="mention">: a token starts
 * at `@` at the start or after a character no username has and runs over username characters;
 * trailing `.-+@_` may end the sentence instead of the name.
 */
function withMentions(text, names) {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const chars = [...text];
  const nodes = [];
  let plain = '';
  let i = 0;
  while (i < chars.length) {
    const starts = chars[i] === '@' && (i === 0 || !NAME_CHAR.test(chars[i - 1]));
    if (starts) {
      let end = i + 1;
      while (end < chars.length && NAME_CHAR.test(chars[end])) end += 1;
      let token = chars.slice(i + 1, end).join('');
      while (token && !wanted.has(token.toLowerCase()) && TRAILING.test(token)) token = token.slice(0, -1);
      if (token && wanted.has(token.toLowerCase())) {
        if (plain) nodes.push(document.createTextNode(plain));
        plain = '';
        const mark = document.createElement('mark');
        mark.className = 'mention';
        mark.textContent = `@${token}`;
        nodes.push(mark);
        i += 1 + [...token].length;
        continue;
      }
    }
    plain += chars[i];
    i += 1;
  }
  if (plain) nodes.push(document.createTextNode(plain));
  return nodes;
}

/** "Seen" under our newest message the other side has read; our newest message's status. */
export function renderReceipts() {
  const open = state.open;
  if (!open) return;
  const mine = [...open.messages.values()].filter(isMine).sort((a, b) => a.id - b.id);
  const newest = mine.length ? mine[mine.length - 1] : null;
  let lastSeen = null;
  for (const m of mine) if (m.status === 'seen' || m.is_read) lastSeen = m;
  for (const [id, el] of open.elements) {
    const receipt = el.querySelector(':scope > .receipt');
    if (!receipt) continue;
    let text = '';
    if (lastSeen && id === lastSeen.id) text = 'Seen';
    else if (newest && id === newest.id) text = newest.status === 'delivered' ? 'Delivered' : 'Sent';
    if (receipt.textContent !== text) receipt.textContent = text;
    receipt.hidden = !text;
    receipt.dataset.status = text.toLowerCase();
  }
}
