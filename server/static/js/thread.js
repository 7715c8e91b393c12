// Rendering the open conversation: its header, its messages in id order (new elements are
// inserted, existing ones left alone for screen readers), the history line and the receipts. In a
// group: sender names, system messages styled apart, mentions marked, a "Read by" button under
// our own messages, and the members panel.
import { updateComposer } from './composer.js';
import { ui } from './dom.js';
import { renderMembers } from './groups.js';
import { renderReaders, requestReceipts } from './readers.js';
import { conversationName, isGroup, isMine, mentionsMe, openItem, state } from './state.js';
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
  renderTyping();
  renderMembers();
  renderReaders();
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
}

function messageElement(message) {
  const li = document.createElement('li');
  li.className = 'message';
  li.dataset.messageId = String(message.id);
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
  if (group && Array.isArray(message.mentions) && message.mentions.length) {
    const names = conversation.participants.filter((p) => message.mentions.includes(p.id)).map((p) => p.username);
    body.append(...withMentions(message.content, names));
  } else {
    body.textContent = message.content;
  }

  const receipt = document.createElement('p');
  receipt.className = 'receipt';
  receipt.hidden = true;

  li.append(meta, body, receipt);
  return li;
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
    const receipt = el.lastElementChild; // messageElement appends the receipt last
    let text = '';
    if (lastSeen && id === lastSeen.id) text = 'Seen';
    else if (newest && id === newest.id) text = newest.status === 'delivered' ? 'Delivered' : 'Sent';
    if (receipt.textContent !== text) receipt.textContent = text;
    receipt.hidden = !text;
    receipt.dataset.status = text.toLowerCase();
  }
}
