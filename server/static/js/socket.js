// The one WebSocket: connecting with a fresh token, renewing it in band before it expires
// (`chat.auth`; a server run with `--socket-expiry token` closes a socket whose token expired),
// reconnecting with backoff, renewing the session after a 4001, and sending frames. What frames
// mean is up to the handlers given to `initSocket`.
import { setConnection } from './dom.js';
import { CLOSE_UNAUTHORIZED } from './protocol.js';
import { clearTokens, freshAccess, refreshAccess, renewalDue } from './session.js';
import { state } from './state.js';

const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30000;
const RENEW_RETRY_MS = 1000; // after a chat.auth the server refused, try once more this late

const socket = {
  ws: null,
  connected: false,
  attempt: 0, // reconnect attempts since the last good connection
  reconnectTimer: null,
  generation: 0, // bumped by every connect and disconnect: a stale attempt stops
  refreshedForSocket: false, // a 4001 right after a refresh means: log in again
  renewTimer: null, // renews the socket's access token in band (chat.auth) before it expires
  renewRetried: false, // the last chat.auth was refused once already
};

// {opened, up, frame, down, sessionEnded}, set once by initSocket.
let handlers = null;

/**
 * Gives the socket what to do when it opens, on its first frame (`up`), with every frame, when
 * it closes (`down`) and when the session is over; reconnects when the browser is back online.
 */
export function initSocket(given) {
  handlers = given;
  window.addEventListener('online', () => {
    if (state.me && !socket.ws) connect();
  });
}

/** Whether the socket is open and the server has answered on it. */
export function isConnected() {
  return socket.connected;
}

export async function connect() {
  clearTimeout(socket.reconnectTimer);
  socket.reconnectTimer = null;
  if (!state.me || socket.ws) return;
  const generation = ++socket.generation;
  setConnection('Connecting…', 'connecting');
  let access;
  try {
    access = await freshAccess();
  } catch (_) {
    if (generation === socket.generation) scheduleReconnect(); // offline
    return;
  }
  // Logged out, or a newer connect started, while we waited.
  if (generation !== socket.generation || !state.me || socket.ws) return;
  if (!access) {
    handlers.sessionEnded();
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/ws/chat/?token=${encodeURIComponent(access)}`);
  socket.ws = ws;
  scheduleRenewal(access);
  ws.onopen = () => {
    if (socket.ws !== ws) return;
    // Wait for the first frame before trusting the token: a bad one is closed with 4001 at once.
    handlers.opened();
  };
  ws.onmessage = (event) => {
    if (socket.ws !== ws) return;
    if (!socket.connected) onConnected();
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    if (!frame || typeof frame.type !== 'string' || onRenewalFrame(frame)) return;
    handlers.frame(frame);
  };
  ws.onclose = (event) => {
    if (socket.ws !== ws) return;
    socket.ws = null;
    socket.connected = false;
    stopRenewal();
    handlers.down();
    if (event.code === CLOSE_UNAUTHORIZED) {
      onUnauthorizedClose();
    } else {
      scheduleReconnect();
    }
  };
}

/** Closes the socket for good (logging out) and forgets its reconnect attempts. */
export function disconnect() {
  socket.generation += 1;
  clearTimeout(socket.reconnectTimer);
  socket.reconnectTimer = null;
  stopRenewal();
  if (socket.ws) {
    const ws = socket.ws;
    socket.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    ws.close(1000, 'logout');
  }
  Object.assign(socket, { connected: false, attempt: 0, refreshedForSocket: false, renewRetried: false });
}

/** Sends a frame; false when the socket is not open. */
export function send(frame) {
  if (!socket.ws || socket.ws.readyState !== WebSocket.OPEN) return false;
  socket.ws.send(JSON.stringify(frame));
  return true;
}

function onConnected() {
  socket.connected = true;
  socket.attempt = 0;
  socket.refreshedForSocket = false;
  setConnection('Connected', 'connected');
  handlers.up();
}

async function onUnauthorizedClose() {
  if (socket.refreshedForSocket) {
    clearTokens();
    handlers.sessionEnded();
    return;
  }
  setConnection('Renewing session…', 'connecting');
  let ok;
  try {
    ok = await refreshAccess();
  } catch (_) {
    scheduleReconnect(); // offline: try again later
    return;
  }
  if (!state.me) return;
  if (!ok) {
    clearTokens();
    handlers.sessionEnded();
    return;
  }
  socket.refreshedForSocket = true;
  connect();
}

// ---- Renewing in band ------------------------------------------------------------------------
/** Renews the open socket's token when `access` (the one it runs on) is due for renewal. */
function scheduleRenewal(access) {
  stopRenewal();
  const due = renewalDue(access);
  if (!due) return; // unreadable: the server decides (a 4001 leads to a refresh)
  socket.renewTimer = setTimeout(renew, Math.max(0, due - Date.now()));
}

function stopRenewal() {
  clearTimeout(socket.renewTimer);
  socket.renewTimer = null;
}

/**
 * Gets a fresh access token over REST (or the one another tab just got) and hands it to the open
 * socket: `chat.auth {token}`, answered with `chat.auth_ok` (or a `chat.error`).
 */
async function renew() {
  socket.renewTimer = null;
  const ws = socket.ws;
  if (!ws) return;
  let access;
  try {
    access = await freshAccess();
  } catch (_) {
    socket.renewTimer = setTimeout(renew, RENEW_RETRY_MS); // offline for now
    return;
  }
  if (socket.ws !== ws) return; // closed or replaced meanwhile
  if (!access) {
    disconnect();
    handlers.sessionEnded();
    return;
  }
  if (!send({ type: 'chat.auth', token: access })) return;
  // Until the answer comes, renew again when this token is due (no answer: the socket is lost).
  scheduleRenewal(access);
}

/** Takes the answers to chat.auth; true when `frame` was one. */
function onRenewalFrame(frame) {
  if (frame.type === 'chat.auth_ok') {
    socket.renewRetried = false;
    return true;
  }
  if (frame.type === 'chat.error' && frame.request_type === 'chat.auth') {
    // Refused (expired on the way, say): once more with a fresh token. If the session is over,
    // the server closes the socket with 4001 and the refresh after it says so.
    if (!socket.renewRetried) {
      socket.renewRetried = true;
      stopRenewal();
      socket.renewTimer = setTimeout(renew, RENEW_RETRY_MS);
    }
    return true;
  }
  return false;
}

function scheduleReconnect() {
  if (!state.me || socket.reconnectTimer !== null) return;
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(socket.attempt, 16));
  const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  socket.attempt += 1;
  setConnection(`Disconnected. Reconnecting in ${Math.ceil(delay / 1000)} s…`, 'disconnected');
  socket.reconnectTimer = setTimeout(() => {
    socket.reconnectTimer = null;
    connect();
  }, delay);
}
