// The one WebSocket: connecting with a fresh token, renewing it in band before it expires
// (`chat.auth`; a server run with `--socket-expiry token` closes a socket whose token expired),
// reconnecting with backoff, renewing the session after a 4001, and sending frames. What frames
// mean is up to the handlers given to `initSocket`.
import { setConnection } from './dom.js';
import { CLOSE_UNAUTHORIZED } from './protocol.js';
import { clearTokens, freshTokens, loadTokens, refreshAccess, renewalDelay } from './session.js';
import { state } from './state.js';

const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30000;
const RENEW_FLOOR_MS = 2000; // never renew in band more often than this, whatever the tokens say
const RENEW_RETRY_MS = 1000; // a failed renewal is tried again this late, then twice as late…
const RENEW_RETRIES = 4; // …this many times; then the server's 4001 at `exp` leads to a reconnect

const socket = {
  ws: null,
  connected: false,
  attempt: 0, // reconnect attempts since the last good connection
  reconnectTimer: null,
  generation: 0, // bumped by every connect and disconnect: a stale attempt stops
  refreshedForSocket: false, // a 4001 right after a refresh means: log in again
  renewTimer: null, // renews the socket's access token in band (chat.auth) before it expires
  renewFailures: 0, // renewals failed (refresh or chat.auth) since the last chat.auth_ok
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
  let tokens;
  try {
    tokens = await freshTokens();
  } catch (_) {
    if (generation === socket.generation) scheduleReconnect(); // offline, or the server failing
    return;
  }
  // Logged out, or a newer connect started, while we waited.
  if (generation !== socket.generation || !state.me || socket.ws) return;
  if (!tokens) {
    handlers.sessionEnded();
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/ws/chat/?token=${encodeURIComponent(tokens.access)}`);
  socket.ws = ws;
  scheduleRenewal(tokens);
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
  Object.assign(socket, { connected: false, attempt: 0, refreshedForSocket: false, renewFailures: 0 });
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
    scheduleReconnect(); // offline, or the server failing: try again later
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
// Timed from when the tokens arrived, by the page's own clock (session.js `renewalDelay`), with a
// floor, so a browser clock far from the server's neither renews in a loop nor too late.

/** Renews the open socket's token when `tokens` (the ones it runs on) are due for renewal. */
function scheduleRenewal(tokens) {
  stopRenewal();
  const delay = renewalDelay(tokens);
  if (delay === null) return; // unreadable: the server decides (a 4001 leads to a refresh)
  socket.renewTimer = setTimeout(renew, Math.max(RENEW_FLOOR_MS, delay));
}

function stopRenewal() {
  clearTimeout(socket.renewTimer);
  socket.renewTimer = null;
}

/** Tries a failed renewal again a few times, each twice as late, with a refresh of its own. */
function retryRenewal() {
  stopRenewal();
  if (socket.renewFailures >= RENEW_RETRIES) return; // given up: the socket closes at its `exp`
  socket.renewTimer = setTimeout(() => renew(true), RENEW_RETRY_MS * 2 ** socket.renewFailures);
  socket.renewFailures += 1;
}

/**
 * Gets a fresh access token over REST (or the one another tab just got; with `refresh`, a newer
 * one than the stored one in any case) and hands it to the open socket: `chat.auth {token}`,
 * answered with `chat.auth_ok` (or a `chat.error`).
 */
async function renew(refresh = false) {
  socket.renewTimer = null;
  const ws = socket.ws;
  if (!ws) return;
  let tokens;
  try {
    tokens = refresh ? ((await refreshAccess()) ? loadTokens() : null) : await freshTokens();
  } catch (_) {
    if (socket.ws === ws) retryRenewal(); // offline, or the server failing
    return;
  }
  if (socket.ws !== ws) return; // closed or replaced meanwhile
  if (!tokens) {
    disconnect();
    handlers.sessionEnded();
    return;
  }
  if (!send({ type: 'chat.auth', token: tokens.access })) return;
  // Until the answer comes, renew again when these are due (no answer: the socket is lost).
  scheduleRenewal(tokens);
}

/** Takes the answers to chat.auth; true when `frame` was one. */
function onRenewalFrame(frame) {
  if (frame.type === 'chat.auth_ok') {
    socket.renewFailures = 0;
    return true;
  }
  if (frame.type === 'chat.error' && frame.request_type === 'chat.auth') {
    // Refused (expired on the way, say): again with a token refreshed for it. If the session is
    // over, the server closes the socket with 4001 and the refresh after it says so.
    retryRenewal();
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
