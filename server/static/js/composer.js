// The composer: Enter sends, Shift+Enter starts a new line; a message over the server's limit
// (counted as the server counts) is refused here, and one the server refuses goes back in.
import { setChatError, ui } from './dom.js';
import { charCount, limits } from './protocol.js';
import { isConnected, send } from './socket.js';
import { state } from './state.js';
import { onOwnInput, stopOwnTyping } from './typing.js';

/** Wires the message box and its form. */
export function initComposer() {
  ui.input.addEventListener('input', () => {
    autoGrow();
    onOwnInput();
  });

  ui.input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendMessage();
    }
  });

  ui.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    sendMessage();
  });
}

export function updateComposer() {
  ui.send.disabled = !isConnected() || !state.open;
  ui.input.setAttribute('aria-disabled', String(!isConnected()));
}

function autoGrow() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
}

function sendMessage() {
  const content = ui.input.value;
  if (!state.open || content.trim() === '') return;
  if (charCount(content) > limits.maxMessageChars) {
    setChatError(`A message can have at most ${limits.maxMessageChars} characters.`);
    return;
  }
  if (!isConnected()) {
    setChatError('Not connected: your message is kept here until the connection is back.');
    return;
  }
  stopOwnTyping(true);
  if (send({ type: 'chat.message', conversation_id: state.openId, content })) {
    // Kept until the server's echo, to put back in the box if the server refuses it.
    state.unsent = { conversationId: state.openId, content };
    ui.input.value = '';
    autoGrow();
    setChatError('');
  }
}

/** Puts a message the server refused back in the composer, unless something new is there. */
export function restoreUnsent() {
  const unsent = state.unsent;
  state.unsent = null;
  if (!unsent || unsent.conversationId !== state.openId || ui.input.value !== '') return;
  ui.input.value = unsent.content;
  autoGrow();
}
