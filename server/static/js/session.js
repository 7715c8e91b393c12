// The session: the tokens kept in localStorage (shared by the page's tabs), and REST calls that
// refresh them when needed. The server rotates refresh tokens: every refresh answers a new one
// and retires the old, and a retired one presented again later ends the whole session, so tabs
// refresh one at a time (a Web Lock), and each looks up first whether another tab has already
// retired the token it holds (IndexedDB, below).

export const TOKENS_KEY = 'chat.tokens';
const REFRESH_LOCK = 'chat.refresh';
const RENEW_AT = 0.8; // renew an access token once this share of its lifetime has passed
// `iat` is in whole seconds: a token may be up to this much older than `exp - iat` says.
const IAT_ROUNDING_MS = 1000;

/** The stored tokens: `{access, refresh, received}` (`received`: `Date.now()` at their arrival). */
export function loadTokens() {
  try {
    const t = JSON.parse(localStorage.getItem(TOKENS_KEY) || 'null');
    if (t && typeof t.access === 'string' && typeof t.refresh === 'string') return t;
  } catch (_) {
    /* unreadable: treat as logged out */
  }
  return null;
}

export function saveTokens(tokens) {
  localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
}

export function clearTokens() {
  localStorage.removeItem(TOKENS_KEY);
  forgetRotations();
}

/**
 * The tokens of a login or refresh answer, stamped with their arrival (the server's clock and
 * ours may disagree: only our own clock is compared with `received`).
 */
export function arrived(data, refresh = data.refresh) {
  return { access: data.access, refresh, received: Date.now() };
}

/** The claims of a JWT, unverified (the server checks them); {} when it cannot be read. */
export function tokenClaims(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload));
    return claims && typeof claims === 'object' ? claims : {};
  } catch (_) {
    return {};
  }
}

/**
 * Milliseconds from now until the access token of `tokens` is due for renewal: RENEW_AT of its
 * lifetime (`exp - iat`, the server's) after it arrived (`received`, our clock), never the
 * browser's clock against the server's `exp`, so a clock an hour off renews on time all the
 * same. 0 when due; null when the lifetime or the arrival cannot be read (then it is due too).
 */
export function renewalDelay(tokens) {
  const { exp, iat } = tokenClaims(tokens.access);
  if (typeof exp !== 'number' || typeof iat !== 'number' || exp <= iat) return null;
  if (typeof tokens.received !== 'number') return null;
  const share = (exp - iat) * 1000 * RENEW_AT;
  const due = tokens.received + share - IAT_ROUNDING_MS;
  // Clamped: a clock set back since the arrival must not put the renewal off past the lifetime.
  return Math.min(share, Math.max(0, due - Date.now()));
}

// ---- Refresh tokens this browser retired ------------------------------------------------------
// The Web Lock orders the tabs' refreshes but not their view of localStorage: Chromium keeps a
// copy of it in each tab's process and tells the others of a change later, so a tab granted the
// lock just after another one saved rotated tokens can still read the old refresh token, and
// presenting that one again ends the session (past the server's reuse grace). IndexedDB is read
// from one copy, so each rotation is written there (before the lock is released) as the retired
// token and its successor, and under the lock a tab follows what it read to its newest successor.
const ROTATIONS_DB = 'chat.session';
const ROTATIONS_STORE = 'rotations';
const ROTATIONS_KEY = 'recent';
const ROTATIONS_KEPT = 16;

let rotationsDb = null; // the opened database (a promise), or null before the first use

function openRotations() {
  if (!rotationsDb) {
    rotationsDb = new Promise((resolve, reject) => {
      const request = indexedDB.open(ROTATIONS_DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(ROTATIONS_STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    rotationsDb.catch(() => {
      rotationsDb = null;
    });
  }
  return rotationsDb;
}

/**
 * Runs `step(store, done)` in one IndexedDB transaction; resolves to what `done` was given once
 * the transaction is committed, or to `fallback` where IndexedDB cannot be used.
 */
async function withRotations(mode, fallback, step) {
  try {
    const db = await openRotations();
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(ROTATIONS_STORE, mode);
      let result = fallback;
      step(tx.objectStore(ROTATIONS_STORE), (value) => {
        result = value;
      });
      tx.oncomplete = () => resolve(result);
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  } catch (_) {
    return fallback; // no IndexedDB (some private modes): the lock and localStorage alone
  }
}

/** The recent rotations, oldest first: `[{retired, successor}]`. */
function readRotations(store, done) {
  const request = store.get(ROTATIONS_KEY);
  request.onsuccess = () => done(Array.isArray(request.result) ? request.result : []);
}

/** Records that `retired` was rotated into the tokens `successor`. */
function recordRotation(retired, successor) {
  return withRotations('readwrite', undefined, (store) => {
    readRotations(store, (recent) => {
      store.put([...recent, { retired, successor }].slice(-ROTATIONS_KEPT), ROTATIONS_KEY);
    });
  });
}

/** `tokens`, or the newest tokens rotated from them (by any tab of this browser). */
function newestFrom(tokens) {
  return withRotations('readonly', tokens, (store, done) => {
    readRotations(store, (recent) => {
      let newest = tokens;
      for (const { retired, successor } of recent) {
        if (retired === newest.refresh) newest = successor;
      }
      done(newest);
    });
  });
}

function forgetRotations() {
  withRotations('readwrite', undefined, (store) => store.delete(ROTATIONS_KEY));
}

class ApiError extends Error {
  constructor(status, detail, code) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body, access) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (access) headers.Authorization = `Bearer ${access}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (_) {
    throw new ApiError(0, 'The server cannot be reached.', 'network');
  }
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    /* not JSON: described below */
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === 'string' ? data.detail : `HTTP ${response.status}`;
    throw new ApiError(response.status, detail, data && data.code);
  }
  return data;
}

/**
 * Exchanges the refresh token for a new access token and keeps the new refresh token the server
 * rotates in; false when the session is over (the tokens are then cleared). Throws when offline
 * or when the server fails (not a verdict on the session). One tab at a time: a tab that waited
 * finds the tokens another tab got and uses them.
 */
export async function refreshAccess() {
  const seen = loadTokens();
  if (!seen) return false;
  return withRefreshLock(async () => {
    const stored = loadTokens();
    if (!stored) return false; // logged out meanwhile
    // What this tab reads may lag behind a rotation another tab has just made: follow it.
    const tokens = await newestFrom(stored);
    if (tokens !== stored) saveTokens(tokens);
    if (tokens.refresh !== seen.refresh) return true; // another tab refreshed meanwhile
    let data;
    try {
      data = await api('POST', '/api/token/refresh/', { refresh: tokens.refresh });
    } catch (e) {
      if (e.status !== 401) throw e; // offline, or the server failing: try again later
      clearTokens(); // ended: signed out elsewhere, password changed, or expired
      return false;
    }
    if (!data || typeof data.access !== 'string') return false;
    // `refresh` is absent only when the server does not rotate (or for a token of no session).
    const next = arrived(data, typeof data.refresh === 'string' ? data.refresh : tokens.refresh);
    if (next.refresh !== tokens.refresh) await recordRotation(tokens.refresh, next); // before unlocking
    saveTokens(next);
    return true;
  });
}

/** Runs `task` while no other tab of this origin refreshes (without the Web Locks API: at once). */
function withRefreshLock(task) {
  if (navigator.locks && typeof navigator.locks.request === 'function') {
    return navigator.locks.request(REFRESH_LOCK, task);
  }
  return task();
}

/** Tokens whose access token is not due for renewal, refreshing first when needed; null if none. */
export async function freshTokens() {
  const tokens = loadTokens();
  if (!tokens) return null;
  if (renewalDelay(tokens) > 0) return tokens;
  return (await refreshAccess()) ? loadTokens() : null;
}

/** An authenticated REST call that refreshes once on 401. */
export async function authedApi(method, path, body) {
  const tokens = await freshTokens();
  if (!tokens) throw new ApiError(401, 'Please log in.', 'not_authenticated');
  try {
    return await api(method, path, body, tokens.access);
  } catch (e) {
    if (e.status !== 401 || !(await refreshAccess())) throw e;
    return api(method, path, body, loadTokens().access);
  }
}

/**
 * Ends this tab's session on the server (`POST /api/logout/`), then forgets the tokens, even when
 * the server could not be told.
 */
export async function logout() {
  const tokens = loadTokens();
  try {
    if (tokens) await api('POST', '/api/logout/', { refresh: tokens.refresh });
  } catch (_) {
    /* offline, or already ended: forget the tokens all the same */
  } finally {
    clearTokens();
  }
}

/** Ends every session of the user, on every device (`POST /api/logout/all/`), then forgets ours. */
export async function logoutEverywhere() {
  await authedApi('POST', '/api/logout/all/'); // on failure nothing ended: keep the session
  clearTokens();
}

/**
 * Changes the password (`POST /api/password/`). The server ends every other session of the
 * user; ours goes on with the tokens it has.
 */
export function changePassword(oldPassword, newPassword) {
  return authedApi('POST', '/api/password/', { old_password: oldPassword, new_password: newPassword });
}

/** Deletes the account (`DELETE /api/me/`), then forgets the tokens. */
export async function deleteAccount(password) {
  await authedApi('DELETE', '/api/me/', { password }); // refused: nothing changed
  clearTokens();
}
