// Rendering the conversation list: each conversation's name, unread badge and last message or
// "typing…", and the unread total in the tab's title. A click on an item is the caller's to
// handle (it carries `data-conversation-id`).
import { ui } from './dom.js';
import { conversationName, isPeerTyping, state } from './state.js';

export function renderConversations() {
  const list = ui.conversationList;
  // The list is rebuilt whole; keep keyboard focus on the item that had it.
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.conversationId : null;
  list.replaceChildren();
  for (const id of state.order) {
    const c = state.conversations.get(id);
    if (!c) continue;
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'conversation-item';
    button.dataset.conversationId = String(id);
    if (id === state.openId) button.setAttribute('aria-current', 'true');

    const name = document.createElement('span');
    name.className = 'conversation-name';
    name.textContent = conversationName(c);
    button.append(name);

    if (c.unread > 0) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = String(c.unread);
      badge.setAttribute('aria-label', `${c.unread} unread`);
      button.append(badge);
    }

    const preview = document.createElement('span');
    preview.className = 'preview';
    if (isPeerTyping(c)) {
      preview.textContent = 'typing…';
      preview.classList.add('is-typing');
    } else if (c.last) {
      const mine = state.me && (c.last.sender_id === state.me.id || (c.last.sender && c.last.sender.id === state.me.id));
      preview.textContent = `${mine ? 'You: ' : ''}${oneLine(c.last.content)}`;
    } else {
      preview.textContent = 'No messages yet';
    }
    button.append(preview);

    li.append(button);
    list.append(li);
    if (focused === button.dataset.conversationId) button.focus();
  }
  ui.conversationsEmpty.hidden = state.order.length > 0;
  let unread = 0;
  for (const c of state.conversations.values()) unread += c.unread;
  document.title = unread > 0 ? `(${unread}) Chat` : 'Chat';
}

function oneLine(text) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}
