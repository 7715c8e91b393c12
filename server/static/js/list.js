// Rendering the conversation list: each conversation's name (a group's title and member count),
// unread badge (and "@" for a mention of us) and last message ("message deleted" once it is) or
// "typing…", and the unread total in the tab's title, which leaves muted conversations out unless
// they mention us. A click on an item is the caller's to handle (it carries
// `data-conversation-id`).
import { ui } from './dom.js';
import { conversationName, isGroup, isPeerTyping, state } from './state.js';

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
    if (isGroup(c)) {
      const members = document.createElement('span');
      members.className = 'member-count';
      members.textContent = `${c.memberCount} ${c.memberCount === 1 ? 'member' : 'members'}`;
      name.append(' ', members);
    }
    if (c.muted) {
      button.classList.add('muted');
      const mark = document.createElement('span');
      mark.className = 'muted-mark';
      mark.textContent = 'muted';
      name.append(' ', mark);
    }

    if (c.unread > 0 || c.mentioned) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = `${c.mentioned ? '@ ' : ''}${c.unread > 0 ? c.unread : ''}`.trim();
      const said = c.unread > 0 ? [`${c.unread} unread`] : [];
      if (c.mentioned) said.push('you were mentioned');
      badge.setAttribute('aria-label', said.join(', '));
      button.append(badge);
    }

    const preview = document.createElement('span');
    preview.className = 'preview';
    if (isPeerTyping(c)) {
      preview.textContent = 'typing…';
      preview.classList.add('is-typing');
    } else if (c.last) {
      const mine = state.me && (c.last.sender_id === state.me.id || (c.last.sender && c.last.sender.id === state.me.id));
      if (c.last.deleted) {
        preview.textContent = 'message deleted';
        preview.classList.add('is-deleted');
      } else {
        preview.textContent = `${previewPrefix(c, mine)}${oneLine(c.last.content)}`;
      }
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
  for (const c of state.conversations.values()) if (!c.muted || c.mentioned) unread += c.unread;
  document.title = unread > 0 ? `(${unread}) Chat` : 'Chat';
}

/** "You: " before our own last message; in a group, the sender's name before anyone else's. */
function previewPrefix(conversation, mine) {
  const last = conversation.last;
  if (last.is_system) return '';
  if (mine) return 'You: ';
  if (!isGroup(conversation)) return '';
  return `${last.sender_username || (last.sender && last.sender.username) || ''}: `;
}

function oneLine(text) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
}
