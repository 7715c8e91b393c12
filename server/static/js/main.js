// The browser chat client: log in over REST, then speak the chat protocol over one WebSocket.
// All text from users or the server goes into the page through textContent, never as HTML.
// This module signs in and out, hides or shows our presence, keeps relative times fresh and
// routes the server's frames; the others each own one part.
import { closeAccount, initAccount, isDeletingAccount } from './account.js';
import { closePopup, initActions } from './actions.js';
import { initComposer, restoreUnsent, updateComposer } from './composer.js';
import {
  initConversations,
  onConnectionLost,
  onConversationStarted,
  onConversations,
  onConversationUpdated,
  onMessage,
  onMessageStatus,
  onMessageUpdated,
  onMessages,
  onPresence,
  onRead,
  requestNewest,
} from './conversations.js';
import { setAuthError, setChatError, showView, ui } from './dom.js';
import { initGroups, isCreatingGroup, pickForGroup, resetGroups } from './groups.js';
import { refreshPresenceDots, renderConversations } from './list.js';
import { charCount } from './protocol.js';
import { onConnectionLost as outboxConnectionLost, resendPending, takeRefused } from './outbox.js';
import { closeReaders, initReaders, onReceipts } from './readers.js';
import { flushAllDelivered, markReadIfVisible, resetReceipts } from './receipts.js';
import { clearSearch, initSearch, renderSearchResults } from './search.js';
import {
  TOKENS_KEY,
  api,
  arrived,
  authedApi,
  clearTokens,
  loadTokens,
  logout,
  logoutEverywhere,
  saveTokens,
  tokenClaims,
} from './session.js';
import { connect, disconnect, initSocket, isConnected, send } from './socket.js';
import { forgetUser, state } from './state.js';
import {
  noteFrame,
  onDown as syncDown,
  onListed,
  onOpened as syncOpened,
  onResyncRequired,
  onSyncHint,
  onSynced,
  onUp as syncUp,
  onWelcome,
  resetSync,
} from './sync.js';
import { renderOpenConversation, renderPresence } from './thread.js';
import { onPeerTyping, resetTyping, stopOwnTyping } from './typing.js';

const SESSION_ENDED = 'Your session was ended (signed out elsewhere or password changed). Please sign in again.';
const ACCOUNT_DELETED = 'Your account was deleted.';
const CLOCK_MS = 60_000; // how often "last seen 5 min ago" is read again

// ---- Log in, register, log out --------------------------------------------------------------
function showAuth(notice) {
  teardown();
  showView('auth');
  ui.authNotice.textContent = notice || '';
  ui.authNotice.hidden = !notice;
  ui.authError.hidden = true;
  ui.password.value = '';
  ui.username.focus();
}

ui.authForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const register = event.submitter === ui.registerButton;
  const username = ui.username.value.trim();
  const password = ui.password.value;
  if (!username || !password) {
    setAuthError('Enter a username and a password.');
    return;
  }
  if (register && charCount(password) < 8) {
    setAuthError('The password needs at least 8 characters.');
    return;
  }
  setAuthError('');
  ui.loginButton.disabled = ui.registerButton.disabled = true;
  try {
    if (register) await api('POST', '/api/register/', { username, password });
    const tokens = await api('POST', '/api/token/', { username, password });
    saveTokens(arrived(tokens));
    ui.password.value = '';
    await enterChat();
  } catch (e) {
    setAuthError(e.status === 401 ? 'Wrong username or password.' : e.message);
  } finally {
    ui.loginButton.disabled = ui.registerButton.disabled = false;
  }
});

ui.logout.addEventListener('click', async () => {
  ui.logout.disabled = ui.logoutAll.disabled = true;
  disconnect();
  await logout();
  ui.logout.disabled = ui.logoutAll.disabled = false;
  showAuth('You are logged out.');
});

ui.logoutAll.addEventListener('click', async () => {
  ui.logout.disabled = ui.logoutAll.disabled = true;
  try {
    await logoutEverywhere();
    showAuth('You are logged out on every device.');
  } catch (e) {
    setChatError(`Could not log out everywhere: ${e.message}`);
  } finally {
    ui.logout.disabled = ui.logoutAll.disabled = false;
  }
});

// ---- Our own presence: hidden or shown to the people we share a conversation with ----------
ui.presenceButton.addEventListener('click', () => {
  if (state.presenceAsked) return;
  // What the page shows changes when the server's chat.presence_set says so.
  state.presenceAsked = send({ type: 'chat.set_presence', visible: !state.presenceVisible });
  renderPresenceControl();
});

function renderPresenceControl() {
  ui.presenceButton.textContent = state.presenceVisible ? 'Hide presence' : 'Show presence';
  ui.presenceButton.title = state.presenceVisible
    ? 'Stop showing others whether you are online and when you were last seen'
    : 'Show others again whether you are online and when you were last seen';
  ui.presenceButton.disabled = state.presenceAsked || !isConnected();
  ui.mePresence.hidden = state.presenceVisible;
}

let clock = null; // reads relative times again every CLOCK_MS, without asking the server

// Another tab logged out, or in as someone else: follow it.
window.addEventListener('storage', (event) => {
  if (event.key !== TOKENS_KEY || !state.me) return;
  const tokens = loadTokens();
  if (!tokens) showAuth('You logged out in another window.');
  else if (tokenClaims(tokens.access).user_id !== state.me.id) enterChat();
});

/** Loads the user behind the stored tokens and opens the chat, or shows the login form. */
async function enterChat() {
  let me;
  try {
    me = await authedApi('GET', '/api/me/');
  } catch (e) {
    if (e.status !== 401) {
      // Offline, or the server is restarting or failing: keep the session and try again shortly.
      showView('loading');
      ui.loadingView.querySelector('p').textContent = e.status === 0
        ? 'The server cannot be reached. Retrying…'
        : `The server answered: ${e.message} Retrying…`;
      setTimeout(enterChat, 3000);
      return;
    }
    clearTokens();
    showAuth(SESSION_ENDED);
    return;
  }
  teardown();
  state.me = { id: me.id, username: me.username };
  resetSync();
  ui.meName.textContent = me.username;
  showView('chat');
  renderConversations();
  renderOpenConversation();
  renderPresenceControl();
  clock = setInterval(() => {
    refreshPresenceDots(Date.now());
    renderPresence();
  }, CLOCK_MS);
  connect();
}

/** Forgets everything about the signed-in user and closes the socket. */
function teardown() {
  disconnect();
  closeAccount();
  clearInterval(clock);
  clock = null;
  resetTyping();
  resetReceipts();
  resetGroups();
  closeReaders();
  closePopup(false);
  forgetUser();
  resetSync();
  ui.searchInput.value = '';
  clearSearch();
  ui.input.value = '';
  setChatError('');
  document.body.classList.remove('conversation-open');
  document.title = 'Chat';
}

// ---- The server's frames --------------------------------------------------------------------
function handleFrame(frame) {
  if (!noteFrame(frame)) return; // an event the list just loaded already holds
  switch (frame.type) {
    case 'chat.conversations':
      onConversations(frame.conversations);
      onListed();
      break;
    case 'chat.messages':
      onMessages(frame);
      break;
    case 'chat.message':
      onMessage(frame.message, frame.seq);
      break;
    case 'chat.message_updated':
      onMessageUpdated(frame.message);
      break;
    case 'chat.typing':
      onPeerTyping(frame.sender_id, frame.conversation_id, frame.is_typing);
      break;
    case 'chat.read':
      onRead(frame.conversation_id, frame.reader_id, frame.seq);
      break;
    case 'chat.message_status':
      onMessageStatus(frame.message_id, frame.status);
      break;
    case 'chat.search_results':
      renderSearchResults(frame.results);
      break;
    case 'chat.conversation_started':
      onConversationStarted(frame.conversation);
      break;
    case 'chat.conversation_updated':
      onConversationUpdated(frame.conversation, frame.left === true);
      break;
    case 'chat.receipts':
      onReceipts(frame);
      break;
    case 'chat.error':
      onServerError(frame);
      break;
    case 'chat.welcome':
      onWelcome(frame);
      state.presenceVisible = frame.presence_visible !== false;
      renderPresenceControl();
      break;
    case 'chat.presence':
      onPresence(frame.user_id, frame.status, frame.last_seen);
      break;
    case 'chat.presence_set':
      state.presenceVisible = frame.visible !== false;
      state.presenceAsked = false;
      renderPresenceControl();
      break;
    case 'chat.synced':
      // Caught up: what the open conversation holds has no gap before what comes live.
      if (onSynced(frame) && state.open) state.open.syncedTo = null;
      break;
    case 'chat.resync_required':
      onResyncRequired(frame, reload);
      break;
    case 'chat.sync_hint':
      onSyncHint(frame);
      break;
    default:
      break; // a frame from a newer server: ignore
  }
}

function onServerError(frame) {
  if (frame.request_type === 'chat.get_messages' && state.open) state.open.loadingOlder = false;
  if (frame.request_type === 'chat.typing') return; // nothing the user can act on
  if (frame.request_type === 'chat.message') {
    restoreUnsent(takeRefused());
  }
  setChatError(frame.message || 'The server refused that request.');
}

/** Loads the conversation list afresh (all the page knows comes from it). */
function requestList() {
  state.conversationsRequested = send({ type: 'chat.get_conversations' });
}

/** The full catch-up: the list and the open conversation's newest page, merged by id. */
function reload() {
  requestList();
  if (state.openId !== null) requestNewest(state.openId);
}

let fullLoad = false; // this connection loads the list afresh instead of only syncing

initSocket({
  opened() {
    fullLoad = syncOpened();
    if (fullLoad) requestList();
  },
  up() {
    setChatError('');
    updateComposer();
    renderPresenceControl();
    // Sends whose echo never came go again with their client_id (the server stores none twice),
    // before the sync or catch-up, so that their echoes come first and replace them.
    resendPending();
    // A first connection (or one without a cursor) loads the open conversation afresh; any
    // other asks only for the events missed (sync.js), applied by id, so nothing shows twice.
    if (state.openId !== null && (fullLoad || !state.open || !state.open.loaded)) requestNewest(state.openId);
    syncUp();
    // Receipts owed from before the drop.
    flushAllDelivered();
  },
  frame: handleFrame,
  down() {
    syncDown();
    state.conversationsRequested = false;
    if (state.open) state.open.loadingOlder = false;
    stopOwnTyping(false);
    outboxConnectionLost();
    onConnectionLost();
    updateComposer();
    // An answer still owed will not come on the next connection; its chat.welcome tells.
    state.presenceAsked = false;
    renderPresenceControl();
  },
  sessionEnded() {
    if (isDeletingAccount()) return; // the deletion's answer shows what happened
    showAuth(SESSION_ENDED);
  },
});
initComposer();
initActions();
initAccount(() => {
  ui.username.value = ''; // the name is no one's now
  showAuth(ACCOUNT_DELETED);
});
// Someone found in "Find people" joins the group being created, or else a conversation starts.
initSearch(
  (user) => (isCreatingGroup() ? pickForGroup(user) : send({ type: 'chat.start_conversation', receiver_id: user.id })),
  (user) => (isCreatingGroup() ? `Add ${user.username} to the new group` : `Start a conversation with ${user.username}`),
);
initGroups();
initReaders();
initConversations();
document.addEventListener('visibilitychange', markReadIfVisible);
window.addEventListener('focus', markReadIfVisible);

// ---- Start ----------------------------------------------------------------------------------
if (!loadTokens()) showAuth('');
else enterChat();
