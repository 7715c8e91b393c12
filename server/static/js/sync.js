// Gapless resume (docs/protocol.md, "Sync: gapless resume"). Every frame pushed because something
// happened carries a top-level `seq`; the cursor is the highest one applied, kept here and in
// localStorage per server origin and user. A reconnect with a cursor asks for what it missed
// (`chat.sync {since}`, looping on `has_more`) instead of reloading the list and the open
// conversation; without one, the page loads them and asks for the cursor (`chat.sync {}`).
import { send } from './socket.js';
import { state } from './state.js';

// The frames pushed because something happened; only their top-level `seq` is an event's.
const EVENT_TYPES = new Set([
  'chat.message',
  'chat.message_updated',
  'chat.read',
  'chat.message_status',
  'chat.conversation_updated',
  'chat.presence',
]);

const sync = {
  cursor: null, // the highest seq applied (saved), or null: none yet
  listed: false, // the conversation list has been loaded since the page (or the user) started
  fullLoad: false, // this connection loads the list (and the open conversation) afresh
  // Events up to this seq are already in the list this connection loaded (chat.welcome's seq,
  // taken before the list): they change nothing more. Null: none skipped.
  baseline: null,
  syncing: false, // a chat.sync is under way, until its last chat.synced
  highest: 0, // the highest seq applied on this connection
  hinted: null, // a chat.sync_hint's since, for when the sync under way is done
};

function storageKey() {
  return `chat.sync.cursor:${location.origin}:${state.me.id}`;
}

function save() {
  if (!state.me || sync.cursor === null) return;
  try {
    localStorage.setItem(storageKey(), String(sync.cursor));
  } catch (_) {
    /* storage full or refused: the cursor is kept in memory only */
  }
}

/** The signed-in user changed (or logged out): take their saved cursor, if any. */
export function resetSync() {
  Object.assign(sync, { cursor: null, listed: false, fullLoad: false, baseline: null, syncing: false, highest: 0, hinted: null });
  if (!state.me) return;
  let saved = null;
  try {
    saved = localStorage.getItem(storageKey());
  } catch (_) {
    /* no storage: no cursor */
  }
  const n = Number(saved);
  if (saved !== null && Number.isSafeInteger(n) && n >= 0) sync.cursor = n;
}

/**
 * The socket opened: whether this connection must load the list (and the open conversation)
 * afresh. It must when the page has not loaded the list yet (a reload syncs from the saved cursor
 * too, after the list) or has no cursor. Asks for `chat.welcome` (its `seq` tells which events the
 * list will already hold).
 */
export function onOpened() {
  sync.fullLoad = !sync.listed || sync.cursor === null;
  sync.baseline = null;
  sync.syncing = false;
  sync.highest = 0;
  sync.hinted = null;
  send({ type: 'chat.hello', client: 'chat-web', version: '1' });
  return sync.fullLoad;
}

/** The server's first frame came: ask for what was missed (or, with no cursor, for the cursor). */
export function onUp() {
  startSync(sync.cursor);
}

export function onDown() {
  sync.syncing = false;
  sync.baseline = null;
  sync.hinted = null;
}

/** `chat.conversations` came: the list is loaded. */
export function onListed() {
  sync.listed = true;
}

export function onWelcome(frame) {
  if (sync.fullLoad && Number.isSafeInteger(frame.seq)) sync.baseline = frame.seq;
}

/**
 * Called for every frame before it is applied. Returns false for an event the list loaded on this
 * connection already holds (applying it again could undo what came after it, a read for one).
 */
export function noteFrame(frame) {
  if (!EVENT_TYPES.has(frame.type) || !Number.isSafeInteger(frame.seq)) return true;
  const seq = frame.seq;
  if (seq > sync.highest) sync.highest = seq;
  // While a sync runs, a live frame may be ahead of events still to be replayed: the cursor
  // moves when the sync is done.
  if (!sync.syncing && sync.cursor !== null && seq > sync.cursor) {
    sync.cursor = seq;
    save();
  }
  return sync.baseline === null || seq > sync.baseline;
}

function startSync(since) {
  sync.syncing = true;
  send(since === null ? { type: 'chat.sync' } : { type: 'chat.sync', since });
}

/**
 * `chat.synced`: go on from its seq while `has_more`; else it (or a live seq past it) is the
 * cursor. True when the sync is done.
 */
export function onSynced(frame) {
  if (!sync.syncing || !Number.isSafeInteger(frame.seq)) return false;
  if (frame.has_more === true) {
    // Everything up to seq has been replayed: a reload may start from there.
    if (sync.cursor === null || frame.seq > sync.cursor) {
      sync.cursor = frame.seq;
      save();
    }
    startSync(frame.seq);
    return false;
  }
  sync.syncing = false;
  sync.cursor = Math.max(frame.seq, sync.highest, sync.cursor === null ? 0 : sync.cursor);
  save();
  if (sync.hinted !== null) {
    const since = Math.min(sync.hinted, sync.cursor);
    sync.hinted = null;
    startSync(since);
  }
  return true;
}

/**
 * `chat.resync_required`: the cursor is too old for the server. `reload` fetches the list and the
 * open conversation afresh; its seq becomes the cursor, and events up to it are in what comes.
 */
export function onResyncRequired(frame, reload) {
  if (!Number.isSafeInteger(frame.seq)) return;
  sync.syncing = false;
  sync.hinted = null;
  sync.cursor = frame.seq;
  sync.baseline = frame.seq;
  save();
  reload();
}

/** `chat.sync_hint {since?}`: frames may have been lost; sync from since or the cursor, the smaller. */
export function onSyncHint(frame) {
  const since = Number.isSafeInteger(frame.since) ? frame.since : Infinity;
  if (sync.syncing) {
    // After the sync under way (which may give the first cursor).
    sync.hinted = Math.min(sync.hinted === null ? Infinity : sync.hinted, since);
    return;
  }
  if (sync.cursor === null) return; // no full load has finished: the next connection loads anyway
  startSync(Math.min(since, sync.cursor));
}
