// The session: the tokens kept in localStorage (shared by the page's tabs), and REST calls that
// refresh them when needed. The server rotates refresh tokens: every refresh answers a new one
// and retires the old, and a retired one presented again later ends the whole session, so tabs
// refresh one at a time (a Web Lock) and each re-reads storage first.

export const TOKENS_KEY = 'chat.tokens';
const REFRESH_LOCK = 'chat.refresh';
const RENEW_AT = 0.8; // renew an access token once this share of its lifetime has passed
const TOKEN_SKEW_S = 15; // when its lifetime cannot be read: renew this close to its expiry

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
 * Milliseconds since the epoch at which an access token should be renewed: at RENEW_AT of its
 * lifetime (from its `iat` and `exp`), or TOKEN_SKEW_S before `exp`; 0 when it cannot be read.
 */
export function renewalDue(token) {
  const { exp, iat } = tokenClaims(token);
  if (typeof exp !== 'number') return 0;
  const at = typeof iat === 'number' && iat < exp ? iat + (exp - iat) * RENEW_AT : exp - TOKEN_SKEW_S;
  return at * 1000;
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
 * rotates in; false when the session is over (the tokens are then cleared). Throws when offline.
 * One tab at a time: a tab that waited finds the tokens another tab got and uses them.
 */
export async function refreshAccess() {
  const seen = loadTokens();
  if (!seen) return false;
  return withRefreshLock(async () => {
    const tokens = loadTokens();
    if (!tokens) return false; // logged out meanwhile
    if (tokens.refresh !== seen.refresh) return true; // another tab refreshed meanwhile
    let data;
    try {
      data = await api('POST', '/api/token/refresh/', { refresh: tokens.refresh });
    } catch (e) {
      if (e.status === 0) throw e; // offline: not a verdict on the session
      if (e.status !== 401) return false;
      clearTokens(); // ended: signed out elsewhere, password changed, or expired
      return false;
    }
    if (!data || typeof data.access !== 'string') return false;
    // `refresh` is absent only when the server does not rotate (or for a token of no session).
    saveTokens({ access: data.access, refresh: typeof data.refresh === 'string' ? data.refresh : tokens.refresh });
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

/** An access token that is not due for renewal, refreshing first when needed; null if none. */
export async function freshAccess() {
  const tokens = loadTokens();
  if (!tokens) return null;
  if (renewalDue(tokens.access) > Date.now()) return tokens.access;
  return (await refreshAccess()) ? loadTokens().access : null;
}

/** An authenticated REST call that refreshes once on 401. */
export async function authedApi(method, path) {
  let access = await freshAccess();
  if (!access) throw new ApiError(401, 'Please log in.', 'not_authenticated');
  try {
    return await api(method, path, undefined, access);
  } catch (e) {
    if (e.status !== 401 || !(await refreshAccess())) throw e;
    access = loadTokens().access;
    return api(method, path, undefined, access);
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
