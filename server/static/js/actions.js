// Acting on a message: reply, edit, delete (after a confirmation) and react, from the buttons
// shown on hover (always on touch screens), a long press, its actions menu, or the keyboard. The
// arrow keys move through the messages of the list; on a message, R replies, E edits, D or Delete
// deletes, + reacts, and Enter, the context-menu key or Shift+F10 opens the menu. One small popup
// (the menu, the emoji picker or the confirmation) is open at a time, inside its message.
// Nothing changes here before the server says so: its `chat.message_updated` redraws the message.
import { startEdit, startReply } from './composer.js';
import { setChatError, ui } from './dom.js';
import { charCount } from './protocol.js';
import { send } from './socket.js';
import { canDelete, canEdit, isLive, state } from './state.js';
import { showMessage } from './thread.js';

const COMMON_EMOJI = [
  ['👍', 'thumbs up'],
  ['❤️', 'heart'],
  ['😂', 'laughing'],
  ['😮', 'surprised'],
  ['😢', 'sad'],
  ['🎉', 'party'],
  ['🙏', 'thanks'],
  ['👀', 'eyes'],
];
const MAX_EMOJI_CHARS = 32; // docs/protocol.md, chat.react
const MAX_DISTINCT_EMOJI = 20;
const LONG_PRESS_MS = 550;

const shown = {
  el: null, // the open popup
  messageId: null,
  opener: null, // focused again when it closes
};

/** Wires the message list: clicks on action buttons, keys, long presses. */
export function initActions() {
  ui.messageList.addEventListener('click', onClick);
  ui.messageList.addEventListener('submit', onSubmit);
  ui.scroller.addEventListener('keydown', onKey);
  ui.messageList.addEventListener('pointerdown', onPointerDown);
  ui.messageList.addEventListener('contextmenu', (event) => {
    // A long press on a touch screen: our menu instead of the browser's.
    const li = messageOf(event.target);
    if (!li || (!pressTimer.fired && event.pointerType !== 'touch')) return;
    event.preventDefault();
    if (!pressTimer.fired) {
      clearTimeout(pressTimer.id);
      pressTimer.fired = true;
      act('menu', li, li);
    }
  });
  document.addEventListener('pointerdown', (event) => {
    if (shown.el && !shown.el.contains(event.target) && !(shown.opener && shown.opener.contains(event.target))) {
      closePopup(false);
    }
  });
}

function messageOf(node) {
  const li = node instanceof Element ? node.closest('#message-list > .message') : null;
  return li && li.dataset.messageId ? li : null;
}

function messageFor(li) {
  return state.open ? state.open.messages.get(Number(li.dataset.messageId)) || null : null;
}

// ---- Doing it -------------------------------------------------------------------------------
function act(action, li, opener) {
  const message = messageFor(li);
  if (!isLive(message)) return;
  switch (action) {
    case 'reply':
      closePopup(false);
      startReply(message.id);
      break;
    case 'edit':
      closePopup(false);
      if (canEdit(message)) startEdit(message.id);
      break;
    case 'delete':
      if (canDelete(message)) openConfirm(li, opener);
      break;
    case 'react':
      openPicker(li, opener);
      break;
    case 'menu':
      openMenu(li, opener);
      break;
    default:
      break;
  }
}

/** Adds our reaction, or takes it back when we have it already. */
function toggleReaction(message, emoji) {
  const reactions = Array.isArray(message.reactions) ? message.reactions : [];
  const known = reactions.find((r) => r.emoji === emoji);
  const mine = !!known && !!state.me && known.user_ids.includes(state.me.id);
  if (!known && reactions.length >= MAX_DISTINCT_EMOJI) {
    setChatError(`A message can have at most ${MAX_DISTINCT_EMOJI} different reactions.`);
    return false;
  }
  return send({ type: 'chat.react', message_id: message.id, emoji, add: !mine });
}

function onClick(event) {
  const button = event.target.closest('[data-action]');
  const li = messageOf(event.target);
  if (!button || !li) return;
  const message = messageFor(li);
  const action = button.dataset.action;
  if (action === 'show-original') {
    if (!showMessage(Number(button.dataset.target))) {
      setChatError('That message is not loaded here: scroll up to find it.');
    }
  } else if (action === 'toggle-reaction' || action === 'pick') {
    if (isLive(message) && toggleReaction(message, button.dataset.emoji)) closePopup(true);
  } else if (action === 'confirm-delete') {
    if (isLive(message) && send({ type: 'chat.delete', message_id: message.id })) closePopup(false);
    li.focus();
  } else if (action === 'cancel') {
    closePopup(true);
  } else if (action.startsWith('menu-')) {
    const opener = shown.opener;
    closePopup(false);
    act(action.slice('menu-'.length), li, opener);
  } else if (action === 'menu' && shown.el && shown.messageId === message.id && shown.el.classList.contains('message-menu')) {
    closePopup(true);
  } else {
    act(action, li, button);
  }
}

/** The picker's "Other emoji" form. */
function onSubmit(event) {
  const form = event.target.closest('.react-form');
  const li = messageOf(event.target);
  if (!form || !li) return;
  event.preventDefault();
  const message = messageFor(li);
  const input = form.querySelector('input');
  const error = form.querySelector('.error');
  const emoji = input.value.trim();
  const problem = emoji === ''
    ? 'Type an emoji.'
    : charCount(emoji) > MAX_EMOJI_CHARS
      ? `At most ${MAX_EMOJI_CHARS} characters.`
      : /[\s\p{Cc}]/u.test(emoji) ? 'No spaces.' : '';
  error.textContent = problem;
  error.hidden = !problem;
  if (problem || !isLive(message)) return;
  if (toggleReaction(message, emoji)) closePopup(true);
}

// ---- Keys -----------------------------------------------------------------------------------
function focusables() {
  return [...ui.messageList.querySelectorAll(':scope > .message[tabindex]')];
}

function onKey(event) {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  if (shown.el && shown.el.contains(event.target)) {
    popupKey(event);
    return;
  }
  const list = focusables();
  if (event.target === ui.scroller) {
    // Into the messages from the list itself (its one tab stop).
    const to = event.key === 'ArrowUp' || event.key === 'End' ? list.at(-1) : event.key === 'Home' ? list[0] : null;
    if (to) {
      event.preventDefault();
      to.focus();
    }
    return;
  }
  const li = messageOf(event.target);
  if (!li || event.target !== li) return;
  const at = list.indexOf(li);
  const move = { ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: list.length - 1 }[event.key];
  if (move !== undefined) {
    event.preventDefault();
    if (move >= 0 && move < list.length) list[move].focus();
    return;
  }
  const menuKey = event.key === 'Enter' || event.key === 'ContextMenu' || (event.key === 'F10' && event.shiftKey);
  const action = menuKey
    ? 'menu'
    : { r: 'reply', R: 'reply', e: 'edit', E: 'edit', d: 'delete', D: 'delete', Delete: 'delete', '+': 'react' }[event.key];
  if (action) {
    event.preventDefault();
    act(action, li, li);
  } else if (event.key === 'Escape') {
    event.preventDefault();
    event.stopPropagation();
    ui.input.focus();
  }
}

function popupKey(event) {
  if (event.key === 'Escape') {
    event.preventDefault();
    event.stopPropagation();
    closePopup(true);
    return;
  }
  if (!shown.el.classList.contains('message-menu')) return;
  const items = [...shown.el.querySelectorAll('[role="menuitem"]')];
  const at = items.indexOf(document.activeElement);
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
  if (to !== undefined) {
    event.preventDefault();
    items[(to + items.length) % items.length].focus();
  } else if (event.key === 'Tab') {
    closePopup(false);
  }
}

// ---- Touch: a long press opens the menu -----------------------------------------------------
const pressTimer = { id: null, fired: false, x: 0, y: 0 };

function onPointerDown(event) {
  pressTimer.fired = false;
  if (event.pointerType !== 'touch') return;
  const li = messageOf(event.target);
  if (!li || event.target.closest('button, input, form')) return;
  Object.assign(pressTimer, { x: event.clientX, y: event.clientY });
  clearTimeout(pressTimer.id);
  pressTimer.id = setTimeout(() => {
    pressTimer.fired = true;
    act('menu', li, li);
  }, LONG_PRESS_MS);
  const cancel = (e) => {
    if (e.type === 'pointermove' && Math.hypot(e.clientX - pressTimer.x, e.clientY - pressTimer.y) < 10) return;
    clearTimeout(pressTimer.id);
    for (const type of ['pointerup', 'pointercancel', 'pointermove']) li.removeEventListener(type, cancel);
  };
  for (const type of ['pointerup', 'pointercancel', 'pointermove']) li.addEventListener(type, cancel);
}

// ---- The popups -----------------------------------------------------------------------------
function button(text, action, attrs = {}) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.dataset.action = action;
  for (const [k, v] of Object.entries(attrs)) b.setAttribute(k, v);
  return b;
}

function place(li, el, opener, focus) {
  closePopup(false);
  el.classList.add('popup');
  li.append(el);
  li.classList.add('has-popup');
  Object.assign(shown, { el, messageId: Number(li.dataset.messageId), opener });
  const toggle = li.querySelector('[data-action="menu"]');
  if (toggle && el.classList.contains('message-menu')) toggle.setAttribute('aria-expanded', 'true');
  el.scrollIntoView({ block: 'nearest' });
  focus.focus();
}

/** Closes the open popup; `refocus`: focus what opened it (or its message). */
export function closePopup(refocus) {
  const { el, opener } = shown;
  Object.assign(shown, { el: null, messageId: null, opener: null });
  if (!el) return;
  const li = el.parentElement;
  el.remove();
  if (li) {
    li.classList.remove('has-popup');
    const toggle = li.querySelector('[data-action="menu"]');
    if (toggle) toggle.setAttribute('aria-expanded', 'false');
  }
  if (!refocus) return;
  const back = opener && opener.isConnected ? opener : li && li.isConnected ? li : null;
  if (back) back.focus();
}

function openMenu(li, opener) {
  const message = messageFor(li);
  const menu = document.createElement('div');
  menu.className = 'message-menu';
  menu.setAttribute('role', 'menu');
  menu.setAttribute('aria-label', 'Message actions');
  const items = [['Reply', 'menu-reply', 'R'], ['React…', 'menu-react', '+']];
  if (canEdit(message)) items.push(['Edit', 'menu-edit', 'E']);
  if (canDelete(message)) items.push(['Delete…', 'menu-delete', 'D']);
  for (const [text, action, key] of items) {
    const item = button(text, action, { role: 'menuitem', tabindex: '-1', 'aria-keyshortcuts': key });
    const hint = document.createElement('kbd');
    hint.textContent = key;
    hint.setAttribute('aria-hidden', 'true');
    item.append(hint);
    menu.append(item);
  }
  place(li, menu, opener, menu.firstElementChild);
}

function openPicker(li, opener) {
  const picker = document.createElement('div');
  picker.className = 'react-picker';
  picker.setAttribute('role', 'dialog');
  picker.setAttribute('aria-label', 'React with');
  const row = document.createElement('div');
  row.className = 'emoji-row';
  for (const [emoji, name] of COMMON_EMOJI) {
    row.append(button(emoji, 'pick', { 'data-emoji': emoji, 'aria-label': `React with ${name}`, title: name }));
  }
  const form = document.createElement('form');
  form.className = 'react-form';
  const id = `react-other-${li.dataset.messageId}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = 'Other emoji';
  const input = document.createElement('input');
  input.id = id;
  input.autocomplete = 'off';
  input.spellcheck = false;
  input.placeholder = 'e.g. 🚀';
  const add = document.createElement('button');
  add.type = 'submit';
  add.textContent = 'Add';
  add.className = 'secondary';
  const error = document.createElement('p');
  error.className = 'error';
  error.setAttribute('role', 'alert');
  error.hidden = true;
  form.append(label, input, add, error);
  picker.append(row, form, button('Cancel', 'cancel', { class: 'link' }));
  place(li, picker, opener, row.firstElementChild);
}

function openConfirm(li, opener) {
  const box = document.createElement('div');
  box.className = 'confirm-delete';
  box.setAttribute('role', 'alertdialog');
  const id = `confirm-${li.dataset.messageId}`;
  box.setAttribute('aria-labelledby', id);
  const text = document.createElement('p');
  text.id = id;
  text.textContent = 'Delete this message for everyone?';
  const yes = button('Delete', 'confirm-delete', { class: 'danger' });
  const no = button('Cancel', 'cancel', { class: 'secondary' });
  box.append(text, yes, no);
  place(li, box, opener, yes);
}
