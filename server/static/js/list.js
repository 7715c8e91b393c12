// Rendering the conversation list: each conversation's name (a group's title and member count),
// before a direct conversation's name a dot for the other person's presence, unread badge (and
// "@" for a mention of us) and last message ("message deleted" once it is) or "typing…", and the
// unread total in the tab's title, which leaves muted conversations out unless they mention us.
// A click on an item is the caller's to handle (it carries `data-conversation-id`). Also how a
// presence reads ("last seen 5 min ago"), for the list and the thread's header alike.
import { ui } from './dom.js';
import { conversationName, isGroup, isPeerTyping, peerId, presenceOf, state } from './state.js';

export function renderConversations() {
  const list = ui.conversationList;
  // The list is rebuilt whole; keep keyboard focus on the item that had it.
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.conversationId : null;
  list.replaceChildren();
  const now = Date.now();
  for (const id of state.order) {
    const c = state.conversations.get(id);
    if (!c) continue;
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'conversation-item';
    button.dataset.conversationId = String(id);
    if (id === state.openId) button.setAttribute('aria-current', 'true');

    const peer = peerId(c);
    if (peer !== null && presenceOf(peer)) {
      const dot = document.createElement('span');
      dot.className = 'presence-dot';
      dot.setAttribute('role', 'img');
      dot.dataset.userId = String(peer);
      labelDot(dot, now);
      button.append(dot);
    }

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

/** The list's presence dots read again at `now` ("last seen 2 min ago" becomes "3 min ago"). */
export function refreshPresenceDots(now) {
  for (const dot of ui.conversationList.querySelectorAll('.presence-dot')) labelDot(dot, now);
}

/** A dot: filled for online, hollow for offline; its label says which, and since when. */
function labelDot(dot, now) {
  const words = presenceWords(presenceOf(Number(dot.dataset.userId)), now);
  if (!words) return;
  dot.dataset.status = words.status;
  // "offline, last seen 5 min ago": the dot's look says "offline" to the eye only.
  const lead = words.status === 'offline' && words.text !== 'offline' ? 'offline, ' : '';
  if (dot.getAttribute('aria-label') !== lead + words.text) dot.setAttribute('aria-label', lead + words.text);
  if (dot.title !== lead + words.title) dot.title = lead + words.title;
}

/**
 * How a presence reads at `now` (ms): `{status, text, title}`, `status` 'online' or 'offline'.
 * `text` is "online", "last seen " and "just now", "N min ago", "N h ago" (the same day),
 * "yesterday 21:04" or the date, or "offline" for someone never seen; `title` has the full date
 * and time. Null for an unknown or hidden presence.
 */
export function presenceWords(presence, now) {
  if (!presence) return null;
  if (presence.online) return { status: 'online', text: 'online', title: 'online' };
  const when = presence.lastSeen ? new Date(presence.lastSeen) : null;
  if (!when || Number.isNaN(when.getTime())) return { status: 'offline', text: 'offline', title: 'offline' };
  return {
    status: 'offline',
    text: `last seen ${sinceWords(when, now)}`,
    title: `last seen ${when.toLocaleString([], { dateStyle: 'full', timeStyle: 'short' })}`,
  };
}

function sinceWords(when, now) {
  const minutes = Math.floor((now - when.getTime()) / 60_000);
  if (minutes < 1) return 'just now'; // a clock a little behind the server's too
  if (minutes < 60) return `${minutes} min ago`;
  const today = new Date(now);
  today.setHours(0, 0, 0, 0);
  if (when >= today) return `${Math.floor(minutes / 60)} h ago`;
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (when >= yesterday) return `yesterday ${when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
  const year = when.getFullYear() === today.getFullYear() ? {} : { year: 'numeric' };
  return when.toLocaleDateString([], { day: 'numeric', month: 'short', ...year });
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
