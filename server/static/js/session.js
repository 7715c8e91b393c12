// The session: the tokens kept in localStorage, and REST calls that refresh them when needed.

export const TOKENS_KEY = 'chat.tokens';
const TOKEN_SKEW_S = 15; // refresh an access token this close to its expiry

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

/** Seconds since the epoch at which a JWT expires, or 0 when it cannot be read. */
function tokenExpiry(token) {
  const { exp } = tokenClaims(token);
  return typeof exp === 'number' ? exp : 0;
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

/** Exchanges the refresh token for a new access token; false when the session is over. */
export async function refreshAccess() {
  const tokens = loadTokens();
  if (!tokens) return false;
  try {
    const data = await api('POST', '/api/token/refresh/', { refresh: tokens.refresh });
    if (!data || typeof data.access !== 'string') return false;
    // Keep a rotated refresh token if the server sends one.
    saveTokens({ access: data.access, refresh: typeof data.refresh === 'string' ? data.refresh : tokens.refresh });
    return true;
  } catch (e) {
    if (e.status === 0) throw e; // offline: not a verdict on the session
    return false;
  }
}

/** An access token that is not about to expire, refreshing first when needed; null if none. */
export async function freshAccess() {
  const tokens = loadTokens();
  if (!tokens) return null;
  if (tokenExpiry(tokens.access) > Date.now() / 1000 + TOKEN_SKEW_S) return tokens.access;
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
