// Who has read one of our messages in a group: `chat.get_receipts` for it, and the answer
// (`chat.receipts`: read by, delivered to) in a small panel under the header, until closed or
// another conversation is opened.
import { ui } from './dom.js';
import { send } from './socket.js';
import { state } from './state.js';

const shown = {
  conversationId: null, // where the panel belongs
  messageId: null, // the message asked about last
  opener: null, // the button that asked, focused again on closing
};

/** Wires the panel's Close button. */
export function initReaders() {
  ui.readersClose.addEventListener('click', () => {
    const opener = shown.opener;
    closeReaders();
    if (opener && opener.isConnected) opener.focus();
  });
}

/** Asks the server who has read the message; the panel opens with the answer. */
export function requestReceipts(messageId, opener) {
  if (!send({ type: 'chat.get_receipts', message_id: messageId })) return;
  Object.assign(shown, { conversationId: state.openId, messageId, opener });
}

export function onReceipts(frame) {
  if (frame.message_id !== shown.messageId || shown.conversationId !== state.openId) return;
  const read = Array.isArray(frame.read_by) ? frame.read_by : [];
  const readIds = new Set(read.map((u) => u.id));
  const delivered = (Array.isArray(frame.delivered_to) ? frame.delivered_to : []).filter((u) => !readIds.has(u.id));
  fill(ui.readersRead, read, 'No one yet');
  fill(ui.readersDelivered, delivered, 'No one');
  ui.readersPanel.hidden = false;
  ui.readersClose.focus();
}

function fill(list, users, none) {
  list.replaceChildren();
  for (const user of users.length ? users : [{ username: none }]) {
    const li = document.createElement('li');
    li.textContent = user.username;
    if (!users.length) li.className = 'hint';
    list.append(li);
  }
}

/** Hides the panel when the conversation it belongs to is no longer the open one. */
export function renderReaders() {
  if (!ui.readersPanel.hidden && shown.conversationId !== state.openId) closeReaders();
}

export function closeReaders() {
  Object.assign(shown, { conversationId: null, messageId: null, opener: null });
  ui.readersPanel.hidden = true;
}
