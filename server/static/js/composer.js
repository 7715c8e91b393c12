// The composer: Enter sends, Shift+Enter starts a new line; a message over the server's limit
// (counted as the server counts) is refused here, and one the server refuses goes back in. It also
// answers a message (a reply, shown above the box) and edits one of ours (the box prefilled,
// Enter saves); Escape cancels either, and Up in an empty box edits our last message.
import { setChatError, ui } from './dom.js';
import { MAX_PENDING, queueMessage } from './outbox.js';
import { charCount, limits } from './protocol.js';
import { isConnected, send } from './socket.js';
import { canEdit, isLive, isMine, lastEditable, state } from './state.js';
import { onOwnInput, stopOwnTyping } from './typing.js';

/** Wires the message box and its form. */
export function initComposer() {
  ui.input.addEventListener('input', () => {
    autoGrow();
    if (!state.composing || state.composing.kind !== 'edit') onOwnInput();
  });

  ui.input.addEventListener('keydown', (event) => {
    if (event.isComposing) return;
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      submit();
    } else if (event.key === 'Escape' && state.composing) {
      event.preventDefault();
      event.stopPropagation(); // not also "back to the list" on a phone
      cancelComposing();
    } else if (event.key === 'ArrowUp' && ui.input.value === '' && !state.composing) {
      const last = lastEditable();
      if (last) {
        event.preventDefault();
        startEdit(last.id);
      }
    }
  });

  ui.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  ui.composerCancel.addEventListener('click', () => {
    cancelComposing();
    ui.input.focus();
  });
}

/** The Send button, and the reply or edit line above the box, as the state says. */
export function updateComposer() {
  ui.send.disabled = !isConnected() || !state.open;
  ui.input.setAttribute('aria-disabled', String(!isConnected()));
  const composing = state.composing;
  const target = composing && state.open ? state.open.messages.get(composing.messageId) : null;
  ui.composerContext.hidden = !target;
  ui.send.textContent = composing && composing.kind === 'edit' ? 'Save' : 'Send';
  if (!target) return;
  ui.composerContext.dataset.kind = composing.kind;
  if (composing.kind === 'edit') {
    ui.composerContextText.textContent = 'Editing your message';
    ui.composerCancel.setAttribute('aria-label', 'Cancel editing');
  } else {
    const who = isMine(target) ? 'yourself' : target.sender.username;
    ui.composerContextText.textContent = `Replying to ${who}: ${oneLine(target.content)}`;
    ui.composerCancel.setAttribute('aria-label', 'Cancel reply');
  }
}

function oneLine(text) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim();
  return flat.length > 100 ? `${flat.slice(0, 99)}…` : flat;
}

function autoGrow() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
}

function setInput(text) {
  ui.input.value = text;
  autoGrow();
  ui.input.setSelectionRange(text.length, text.length);
}

/** Answers the message: the next send carries `reply_to`. */
export function startReply(messageId) {
  const message = state.open && state.open.messages.get(messageId);
  if (!isLive(message)) return;
  if (state.composing && state.composing.kind === 'edit') cancelComposing();
  state.composing = { kind: 'reply', messageId, draft: null };
  updateComposer();
  ui.input.focus();
}

/** Edits one of our messages in the box; what the box held comes back afterwards. */
export function startEdit(messageId) {
  const message = state.open && state.open.messages.get(messageId);
  if (!canEdit(message)) return;
  const draft = state.composing && state.composing.kind === 'edit' ? state.composing.draft : ui.input.value;
  stopOwnTyping(true);
  state.composing = { kind: 'edit', messageId, draft };
  setInput(message.content);
  updateComposer();
  ui.input.focus();
}

/** Leaves reply or edit mode (an edit gives the box its earlier text back). */
export function cancelComposing() {
  const composing = state.composing;
  state.composing = null;
  if (composing && composing.kind === 'edit') setInput(composing.draft || '');
  updateComposer();
}

/** The message being answered or edited changed: a deleted one can be neither. */
export function onTargetChanged(message) {
  if (state.composing && state.composing.messageId === message.id && message.deleted) cancelComposing();
  else if (state.composing && state.composing.messageId === message.id) updateComposer();
}

function submit() {
  if (state.composing && state.composing.kind === 'edit') saveEdit();
  else sendMessage();
}

function checkLength(content) {
  if (charCount(content) > limits.maxMessageChars) {
    setChatError(`A message can have at most ${limits.maxMessageChars} characters.`);
    return false;
  }
  if (!isConnected()) {
    setChatError('Not connected: your message is kept here until the connection is back.');
    return false;
  }
  return true;
}

function saveEdit() {
  const { messageId } = state.composing;
  const message = state.open && state.open.messages.get(messageId);
  const content = ui.input.value;
  if (!canEdit(message)) {
    cancelComposing();
    return;
  }
  if (content.trim() === '') {
    setChatError('A message cannot be empty: delete it instead.');
    return;
  }
  if (content === message.content) {
    cancelComposing();
    return;
  }
  if (!checkLength(content)) return;
  if (send({ type: 'chat.edit', message_id: messageId, content })) {
    setChatError('');
    cancelComposing();
  }
}

function sendMessage() {
  const content = ui.input.value;
  if (!state.open || content.trim() === '') return;
  if (!checkLength(content)) return;
  const replyTo = state.composing && state.composing.kind === 'reply' ? state.composing.messageId : null;
  stopOwnTyping(true);
  if (!queueMessage(state.openId, content, replyTo)) {
    setChatError(`${MAX_PENDING} messages are still waiting for the server: try again in a moment.`);
    return;
  }
  state.composing = null;
  setInput('');
  setChatError('');
  updateComposer();
}

/** Puts a send the server refused back in the composer, unless something new is there. */
export function restoreUnsent(item) {
  if (!item || item.conversationId !== state.openId || ui.input.value !== '' || state.composing) return;
  setInput(item.content);
  if (item.replyTo !== null && isLive(state.open && state.open.messages.get(item.replyTo))) {
    state.composing = { kind: 'reply', messageId: item.replyTo, draft: null };
  }
  updateComposer();
}
