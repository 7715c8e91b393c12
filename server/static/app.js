// The browser chat client: log in over REST, then speak the chat protocol over one WebSocket.
// All text from users or the server goes into the page through textContent, never as HTML.
'use strict';

(() => {
  // ---- Tunables -----------------------------------------------------------------------------
  const PAGE_SIZE = 50; // messages per history page
  const MAX_MESSAGES = 5000; // messages kept for the open conversation
  const TYPING_SEND_INTERVAL_MS = 1000; // send "typing" at most this often
  const TYPING_IDLE_MS = 2000; // stop typing after this long without a key
  const TYPING_EXPIRY_MS = 2000; // forget a peer's "typing" this long after the last one
  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_MS = 30000;
  const SEARCH_DEBOUNCE_MS = 250;
  // chat.delivered and chat.read go out at most this often per conversation; those in between
  // are gathered into the next one, for the newest message, so a burst costs a frame or two.
  const RECEIPT_GAP_MS = 1000;
  const TOKEN_SKEW_S = 15; // refresh an access token this close to its expiry
  const TOKENS_KEY = 'chat.tokens';
  const STATUS_RANK = { sent: 0, delivered: 1, seen: 2 };

  // ---- Elements -----------------------------------------------------------------------------
  const $ = (id) => {
    const el = document.getElementById(id);
    if (!el) throw new Error(`missing element #${id}`);
    return el;
  };
  const ui = {
    loadingView: $('loading-view'),
    authView: $('auth-view'),
    authForm: $('auth-form'),
    authTitle: $('auth-title'),
    authNotice: $('auth-notice'),
    authError: $('auth-error'),
    username: $('auth-username'),
    password: $('auth-password'),
    loginButton: $('login-button'),
    registerButton: $('register-button'),
    chatView: $('chat-view'),
    connection: $('connection-status'),
    meName: $('me-name'),
    logout: $('logout-button'),
    searchForm: $('search-form'),
    searchInput: $('search-input'),
    searchResults: $('search-results'),
    searchEmpty: $('search-empty'),
    conversationList: $('conversation-list'),
    conversationsEmpty: $('conversations-empty'),
    back: $('back-button'),
    title: $('conversation-title'),
    typing: $('typing-indicator'),
    scroller: $('message-scroller'),
    historyStatus: $('history-status'),
    messageList: $('message-list'),
    placeholder: $('conversation-placeholder'),
    chatError: $('chat-error'),
    composer: $('composer'),
    input: $('composer-input'),
    send: $('send-button'),
  };

  // ---- State --------------------------------------------------------------------------------
  const state = {
    me: null, // {id, username}
    ws: null,
    connected: false,
    attempt: 0, // reconnect attempts since the last good connection
    reconnectTimer: null,
    connectGeneration: 0, // bumped by every connect and teardown: a stale attempt stops
    refreshedForSocket: false, // a 4001 right after a refresh means: log in again
    conversations: new Map(), // id -> {id, participants:[{id,username}], last: message|null, unread}
    order: [], // conversation ids, most recent activity first
    conversationsRequested: false,
    openId: null,
    open: null, // {messages: Map id->message, hasMore, loadingOlder, needsRead, elements: Map}
    peerTyping: new Map(), // user id -> timer id
    typingSentAt: 0,
    typingIdleTimer: null,
    typingTo: null, // receiver id we told "typing: true"
    searchTimer: null,
    unsent: null, // {conversationId, content} of the last message sent and not yet echoed
    // conversation id -> {deliveredUpto, deliveredDue, deliveredAt, deliveredTimer, readAt, readTimer}
    receipts: new Map(),
  };

  // ---- Tokens and REST ----------------------------------------------------------------------
  function loadTokens() {
    try {
      const t = JSON.parse(localStorage.getItem(TOKENS_KEY) || 'null');
      if (t && typeof t.access === 'string' && typeof t.refresh === 'string') return t;
    } catch (_) {
      /* unreadable: treat as logged out */
    }
    return null;
  }

  function saveTokens(tokens) {
    localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  }

  function clearTokens() {
    localStorage.removeItem(TOKENS_KEY);
  }

  /** The claims of a JWT, unverified (the server checks them); {} when it cannot be read. */
  function tokenClaims(token) {
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

  async function api(method, path, body, access) {
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
  async function refreshAccess() {
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
  async function freshAccess() {
    const tokens = loadTokens();
    if (!tokens) return null;
    if (tokenExpiry(tokens.access) > Date.now() / 1000 + TOKEN_SKEW_S) return tokens.access;
    return (await refreshAccess()) ? loadTokens().access : null;
  }

  /** An authenticated REST call that refreshes once on 401. */
  async function authedApi(method, path) {
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

  // ---- Views --------------------------------------------------------------------------------
  function showView(name) {
    ui.loadingView.hidden = name !== 'loading';
    ui.authView.hidden = name !== 'auth';
    ui.chatView.hidden = name !== 'chat';
  }

  function showAuth(notice) {
    teardown();
    showView('auth');
    ui.authNotice.textContent = notice || '';
    ui.authNotice.hidden = !notice;
    ui.authError.hidden = true;
    ui.password.value = '';
    ui.username.focus();
  }

  function setAuthError(text) {
    ui.authError.textContent = text;
    ui.authError.hidden = !text;
  }

  function setChatError(text) {
    ui.chatError.textContent = text;
    ui.chatError.hidden = !text;
  }

  function setConnection(text, kind) {
    ui.connection.textContent = text;
    ui.connection.dataset.state = kind;
  }

  // ---- Log in, register, log out ------------------------------------------------------------
  ui.authForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const register = event.submitter === ui.registerButton;
    const username = ui.username.value.trim();
    const password = ui.password.value;
    if (!username || !password) {
      setAuthError('Enter a username and a password.');
      return;
    }
    if (register && password.length < 8) {
      setAuthError('The password needs at least 8 characters.');
      return;
    }
    setAuthError('');
    ui.loginButton.disabled = ui.registerButton.disabled = true;
    try {
      if (register) await api('POST', '/api/register/', { username, password });
      const tokens = await api('POST', '/api/token/', { username, password });
      saveTokens({ access: tokens.access, refresh: tokens.refresh });
      ui.password.value = '';
      await enterChat();
    } catch (e) {
      setAuthError(e.status === 401 ? 'Wrong username or password.' : e.message);
    } finally {
      ui.loginButton.disabled = ui.registerButton.disabled = false;
    }
  });

  ui.logout.addEventListener('click', () => {
    clearTokens();
    showAuth('You are logged out.');
  });

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
      if (e.status === 0) {
        // Offline or the server is restarting: keep the session and try again shortly.
        showView('loading');
        ui.loadingView.querySelector('p').textContent = 'The server cannot be reached. Retrying…';
        setTimeout(enterChat, 3000);
        return;
      }
      clearTokens();
      showAuth('Your session has ended. Please log in again.');
      return;
    }
    teardown();
    state.me = { id: me.id, username: me.username };
    ui.meName.textContent = me.username;
    showView('chat');
    renderConversations();
    renderOpenConversation();
    connect();
  }

  /** Forgets everything about the signed-in user and closes the socket. */
  function teardown() {
    state.connectGeneration += 1;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.ws) {
      const ws = state.ws;
      state.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close(1000, 'logout');
    }
    stopOwnTyping(false);
    for (const timer of state.peerTyping.values()) clearTimeout(timer);
    state.peerTyping.clear();
    for (const r of state.receipts.values()) {
      clearTimeout(r.deliveredTimer);
      clearTimeout(r.readTimer);
    }
    state.receipts.clear();
    Object.assign(state, {
      me: null,
      connected: false,
      attempt: 0,
      refreshedForSocket: false,
      conversationsRequested: false,
      openId: null,
      open: null,
      unsent: null,
    });
    state.conversations.clear();
    state.order = [];
    ui.searchInput.value = '';
    clearSearch();
    ui.input.value = '';
    setChatError('');
    document.body.classList.remove('conversation-open');
    document.title = 'Chat';
  }

  // ---- The socket ---------------------------------------------------------------------------
  async function connect() {
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (!state.me || state.ws) return;
    const generation = ++state.connectGeneration;
    setConnection('Connecting…', 'connecting');
    let access;
    try {
      access = await freshAccess();
    } catch (_) {
      if (generation === state.connectGeneration) scheduleReconnect(); // offline
      return;
    }
    // Logged out, or a newer connect started, while we waited.
    if (generation !== state.connectGeneration || !state.me || state.ws) return;
    if (!access) {
      showAuth('Your session has ended. Please log in again.');
      return;
    }
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws/chat/?token=${encodeURIComponent(access)}`);
    state.ws = ws;
    ws.onopen = () => {
      if (state.ws !== ws) return;
      // Wait for the first frame before trusting the token: a bad one is closed with 4001 at once.
      send({ type: 'chat.get_conversations' });
      state.conversationsRequested = true;
    };
    ws.onmessage = (event) => {
      if (state.ws !== ws) return;
      if (!state.connected) onConnected();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (frame && typeof frame.type === 'string') handleFrame(frame);
    };
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.connected = false;
      state.conversationsRequested = false;
      if (state.open) state.open.loadingOlder = false;
      stopOwnTyping(false);
      updateComposer();
      if (event.code === 4001) {
        onUnauthorizedClose();
      } else {
        scheduleReconnect();
      }
    };
  }

  function onConnected() {
    state.connected = true;
    state.attempt = 0;
    state.refreshedForSocket = false;
    setConnection('Connected', 'connected');
    setChatError('');
    updateComposer();
    // Catch up on whatever happened while we were away; merging by id avoids duplicates.
    if (state.openId !== null) requestNewest(state.openId);
    // Receipts owed from before the drop.
    for (const id of state.receipts.keys()) flushDelivered(id);
  }

  async function onUnauthorizedClose() {
    if (state.refreshedForSocket) {
      clearTokens();
      showAuth('Your session has ended. Please log in again.');
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
      showAuth('Your session has ended. Please log in again.');
      return;
    }
    state.refreshedForSocket = true;
    connect();
  }

  function scheduleReconnect() {
    if (!state.me || state.reconnectTimer !== null) return;
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(state.attempt, 16));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    state.attempt += 1;
    setConnection(`Disconnected. Reconnecting in ${Math.ceil(delay / 1000)} s…`, 'disconnected');
    state.reconnectTimer = setTimeout(() => {
      state.reconnectTimer = null;
      connect();
    }, delay);
  }

  window.addEventListener('online', () => {
    if (state.me && !state.ws) connect();
  });

  function send(frame) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  // ---- Incoming frames ----------------------------------------------------------------------
  function handleFrame(frame) {
    switch (frame.type) {
      case 'chat.conversations':
        onConversations(frame.conversations);
        break;
      case 'chat.messages':
        onMessages(frame);
        break;
      case 'chat.message':
        onMessage(frame.message);
        break;
      case 'chat.typing':
        onPeerTyping(frame.sender_id, frame.is_typing);
        break;
      case 'chat.read':
        onRead(frame.conversation_id, frame.reader_id);
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
      case 'chat.error':
        onServerError(frame);
        break;
      default:
        break; // a frame from a newer server: ignore
    }
  }

  function onServerError(frame) {
    if (frame.request_type === 'chat.get_messages' && state.open) state.open.loadingOlder = false;
    if (frame.request_type === 'chat.typing') return; // nothing the user can act on
    if (frame.request_type === 'chat.message') restoreUnsent();
    setChatError(frame.message || 'The server refused that request.');
  }

  // ---- Conversations ------------------------------------------------------------------------
  function otherParticipants(conversation) {
    const me = state.me ? state.me.id : null;
    const others = conversation.participants.filter((p) => p.id !== me);
    return others.length ? others : conversation.participants;
  }

  function conversationName(conversation) {
    return otherParticipants(conversation).map((p) => p.username).join(', ') || 'Conversation';
  }

  function peerId(conversation) {
    const others = conversation.participants.filter((p) => !state.me || p.id !== state.me.id);
    return others.length === 1 ? others[0].id : null;
  }

  function normalizeParticipants(list) {
    return (Array.isArray(list) ? list : []).map((p) => ({
      id: p.id !== undefined ? p.id : p.user__id,
      username: p.username !== undefined ? p.username : p.user__username,
    }));
  }

  function onConversations(list) {
    if (!Array.isArray(list)) return;
    const fresh = new Map();
    for (const item of list) {
      fresh.set(item.id, {
        id: item.id,
        participants: normalizeParticipants(item.participants),
        last: item.last_message || null,
        unread: typeof item.unread_count === 'number' ? item.unread_count : item.has_unread ? 1 : 0,
      });
    }
    // Keep a conversation just started locally that the list does not have yet.
    if (state.openId !== null && !fresh.has(state.openId) && state.conversations.has(state.openId)) {
      fresh.set(state.openId, state.conversations.get(state.openId));
    }
    state.conversations = fresh;
    state.order = [...fresh.values()]
      .sort((a, b) => activity(b) - activity(a) || b.id - a.id)
      .map((c) => c.id);
    state.conversationsRequested = false;
    const open = state.openId !== null ? state.conversations.get(state.openId) : null;
    if (open && open.unread > 0) {
      state.open.needsRead = true;
      markReadIfVisible();
    }
    renderConversations();
    renderHeader();
  }

  function activity(conversation) {
    return conversation.last ? Date.parse(conversation.last.timestamp) || 0 : 0;
  }

  function touchConversation(id) {
    state.order = [id, ...state.order.filter((x) => x !== id)];
  }

  function onConversationStarted(conversation) {
    if (!conversation || typeof conversation.id !== 'number') return;
    if (!state.conversations.has(conversation.id)) {
      state.conversations.set(conversation.id, {
        id: conversation.id,
        participants: normalizeParticipants(conversation.participants),
        last: null,
        unread: 0,
      });
      touchConversation(conversation.id);
    }
    ui.searchInput.value = '';
    clearSearch();
    openConversation(conversation.id);
  }

  function renderConversations() {
    const list = ui.conversationList;
    // The list is rebuilt whole; keep keyboard focus on the item that had it.
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.conversationId : null;
    list.replaceChildren();
    for (const id of state.order) {
      const c = state.conversations.get(id);
      if (!c) continue;
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'conversation-item';
      button.dataset.conversationId = String(id);
      if (id === state.openId) button.setAttribute('aria-current', 'true');

      const name = document.createElement('span');
      name.className = 'conversation-name';
      name.textContent = conversationName(c);
      button.append(name);

      if (c.unread > 0) {
        const badge = document.createElement('span');
        badge.className = 'unread';
        badge.textContent = String(c.unread);
        badge.setAttribute('aria-label', `${c.unread} unread`);
        button.append(badge);
      }

      const preview = document.createElement('span');
      preview.className = 'preview';
      if (isPeerTyping(c)) {
        preview.textContent = 'typing…';
        preview.classList.add('is-typing');
      } else if (c.last) {
        const mine = state.me && (c.last.sender_id === state.me.id || (c.last.sender && c.last.sender.id === state.me.id));
        preview.textContent = `${mine ? 'You: ' : ''}${oneLine(c.last.content)}`;
      } else {
        preview.textContent = 'No messages yet';
      }
      button.append(preview);

      button.addEventListener('click', () => openConversation(id));
      li.append(button);
      list.append(li);
      if (focused === button.dataset.conversationId) button.focus();
    }
    ui.conversationsEmpty.hidden = state.order.length > 0;
    let unread = 0;
    for (const c of state.conversations.values()) unread += c.unread;
    document.title = unread > 0 ? `(${unread}) Chat` : 'Chat';
  }

  function oneLine(text) {
    const flat = String(text || '').replace(/\s+/g, ' ').trim();
    return flat.length > 80 ? `${flat.slice(0, 79)}…` : flat;
  }

  // ---- The open conversation ----------------------------------------------------------------
  function openConversation(id) {
    const conversation = state.conversations.get(id);
    if (!conversation) return;
    if (state.openId !== id) {
      stopOwnTyping(true);
      state.openId = id;
      state.open = {
        messages: new Map(),
        hasMore: false,
        loadingOlder: false,
        needsRead: conversation.unread > 0,
        loaded: false,
        elements: new Map(),
      };
      ui.messageList.replaceChildren();
      ui.input.value = '';
      setChatError('');
      requestNewest(id);
    }
    document.body.classList.add('conversation-open');
    renderConversations();
    renderOpenConversation();
    ui.input.focus();
  }

  function closeConversation() {
    document.body.classList.remove('conversation-open');
    const button = ui.conversationList.querySelector(`[data-conversation-id="${state.openId}"]`);
    if (button) button.focus();
    else ui.searchInput.focus();
  }

  ui.back.addEventListener('click', closeConversation);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && document.body.classList.contains('conversation-open') && !ui.chatView.hidden) {
      closeConversation();
    }
  });

  function requestNewest(id) {
    send({ type: 'chat.get_messages', conversation_id: id, limit: PAGE_SIZE });
  }

  function requestOlder() {
    const open = state.open;
    if (!open || !open.hasMore || open.loadingOlder || !state.connected) return;
    if (open.messages.size >= MAX_MESSAGES) {
      ui.historyStatus.textContent = 'Older messages are not loaded here.';
      return;
    }
    const oldest = oldestId(open);
    if (oldest === null) return;
    open.loadingOlder = true;
    ui.historyStatus.textContent = 'Loading older messages…';
    send({ type: 'chat.get_messages', conversation_id: state.openId, before_id: oldest, limit: PAGE_SIZE });
  }

  ui.scroller.addEventListener('scroll', () => {
    if (ui.scroller.scrollTop < 80) requestOlder();
  });

  function oldestId(open) {
    let min = null;
    for (const id of open.messages.keys()) if (min === null || id < min) min = id;
    return min;
  }

  function newestId(open) {
    let max = null;
    for (const id of open.messages.keys()) if (max === null || id > max) max = id;
    return max;
  }

  function onMessages(frame) {
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    const id = typeof frame.conversation_id === 'number'
      ? frame.conversation_id
      : messages.length ? messages[0].conversation_id : state.openId;
    const open = state.open;
    if (id !== state.openId || !open) return; // an answer for a conversation since closed
    const hasMore = typeof frame.has_more === 'boolean' ? frame.has_more : messages.length >= PAGE_SIZE;
    const oldest = oldestId(open);
    const newest = newestId(open);
    const wasNearBottom = nearBottom();
    // An older page (answering before_id) lies wholly before what we have; anything else is the
    // newest page, first loaded or fetched again to catch up.
    const firstLoad = !open.loaded;
    const older = !firstLoad && oldest !== null && messages.length > 0 && messages.every((m) => m.id < oldest);

    if (messages.length === 0) {
      open.hasMore = false; // nothing before before_id, or an empty conversation
    } else if (older || firstLoad) {
      open.hasMore = hasMore;
    } else if (newest !== null && hasMore && messages[0].id > newest) {
      // A gap between what we had and this newest page: start over from it.
      open.messages.clear();
      open.elements.clear();
      ui.messageList.replaceChildren();
      open.hasMore = true;
    }
    if (older || messages.length === 0) open.loadingOlder = false;

    const heightBefore = ui.scroller.scrollHeight;
    const topBefore = ui.scroller.scrollTop;
    for (const m of messages) {
      if (m.conversation_id !== id) continue;
      storeMessage(m);
      if (!isMine(m) && m.is_read === false) open.needsRead = true;
    }
    open.loaded = true;
    renderOpenConversation();
    if (older) {
      // Keep what the reader was looking at in place above the new page.
      ui.scroller.scrollTop = topBefore + (ui.scroller.scrollHeight - heightBefore);
    } else if (wasNearBottom || firstLoad) {
      scrollToBottom();
    }
    markReadIfVisible();
    // A short first page may not fill the screen: keep loading until it scrolls.
    if (open.hasMore && !open.loadingOlder && ui.scroller.scrollHeight <= ui.scroller.clientHeight) requestOlder();
  }

  function isMine(message) {
    return !!state.me && !!message.sender && message.sender.id === state.me.id;
  }

  /** Adds or updates a message of the open conversation, keeping the best known status. */
  function storeMessage(message) {
    const open = state.open;
    const known = open.messages.get(message.id);
    if (known) {
      if (rank(message.status) > rank(known.status)) known.status = message.status;
      if (message.is_read) known.is_read = true;
      return false;
    }
    open.messages.set(message.id, { ...message });
    if (open.messages.size > MAX_MESSAGES) {
      const drop = oldestId(open);
      open.messages.delete(drop);
      const el = open.elements.get(drop);
      if (el) el.remove();
      open.elements.delete(drop);
      open.hasMore = true;
    }
    return true;
  }

  function rank(status) {
    return status in STATUS_RANK ? STATUS_RANK[status] : -1;
  }

  function onMessage(message) {
    if (!message || typeof message.id !== 'number') return;
    const id = message.conversation_id;
    const conversation = state.conversations.get(id);
    const mine = isMine(message);
    // Received: tell the sender, unless the chat.read sent for the open, visible conversation
    // is about to say more.
    const readNow = id === state.openId && document.visibilityState === 'visible';
    if (!mine && !readNow) deliver(id, message.id);
    if (conversation) {
      conversation.last = { ...message, sender_id: message.sender.id, sender_username: message.sender.username };
      touchConversation(id);
    } else if (!state.conversationsRequested) {
      // A conversation someone else started with us: fetch the list to learn its participants.
      state.conversationsRequested = send({ type: 'chat.get_conversations' });
    }
    if (mine && state.unsent && state.unsent.content === message.content) state.unsent = null;
    if (id === state.openId && state.open) {
      const wasNearBottom = nearBottom();
      // Seen on a hidden tab: count it unread until the tab is looked at.
      if (!mine && conversation && document.visibilityState !== 'visible') conversation.unread += 1;
      const added = storeMessage(message);
      if (!mine && added) {
        state.open.needsRead = true;
        clearPeerTyping(message.sender.id);
      }
      renderOpenConversation();
      if (wasNearBottom || mine) scrollToBottom();
      markReadIfVisible();
    } else if (conversation && !mine) {
      conversation.unread += 1;
    }
    renderConversations();
  }

  function onMessageStatus(messageId, status) {
    if (!state.open) return;
    const message = state.open.messages.get(messageId);
    if (!message || rank(status) <= rank(message.status)) return;
    message.status = status;
    renderReceipts();
  }

  function onRead(conversationId, readerId) {
    const conversation = state.conversations.get(conversationId);
    if (state.me && readerId === state.me.id) {
      // Read on another of our own connections.
      if (conversation) conversation.unread = 0;
      renderConversations();
      return;
    }
    if (conversationId !== state.openId || !state.open) return;
    for (const message of state.open.messages.values()) {
      if (isMine(message)) {
        message.status = 'seen';
        message.is_read = true;
      }
    }
    renderReceipts();
  }

  /** The receipt bookkeeping of one conversation. */
  function receiptsOf(conversationId) {
    let r = state.receipts.get(conversationId);
    if (!r) {
      r = { deliveredUpto: 0, deliveredDue: 0, deliveredAt: -Infinity, deliveredTimer: null, readAt: -Infinity, readTimer: null };
      state.receipts.set(conversationId, r);
    }
    return r;
  }

  /** Owes chat.delivered for a received message; the server's marker covers older ones too. */
  function deliver(conversationId, messageId) {
    const r = receiptsOf(conversationId);
    if (messageId <= r.deliveredUpto || messageId <= r.deliveredDue) return;
    r.deliveredDue = messageId;
    flushDelivered(conversationId);
  }

  /** Sends the owed chat.delivered of a conversation now, or when its gap has passed. */
  function flushDelivered(conversationId) {
    const r = state.receipts.get(conversationId);
    if (!r || !r.deliveredDue || r.deliveredTimer !== null) return;
    const wait = r.deliveredAt + RECEIPT_GAP_MS - performance.now();
    if (wait > 0) {
      r.deliveredTimer = setTimeout(() => {
        r.deliveredTimer = null;
        flushDelivered(conversationId);
      }, wait);
      return;
    }
    // Offline: still owed, sent by onConnected.
    if (!send({ type: 'chat.delivered', message_id: r.deliveredDue })) return;
    r.deliveredUpto = r.deliveredDue;
    r.deliveredDue = 0;
    r.deliveredAt = performance.now();
  }

  /**
   * Tells the server we read the open conversation, when the page is actually being looked at:
   * at once, or when RECEIPT_GAP_MS has passed since the last chat.read for it.
   */
  function markReadIfVisible() {
    const open = state.open;
    if (!open || !open.needsRead || !open.loaded || document.visibilityState !== 'visible') return;
    const r = receiptsOf(state.openId);
    const wait = r.readAt + RECEIPT_GAP_MS - performance.now();
    if (wait > 0) {
      if (r.readTimer === null) {
        r.readTimer = setTimeout(() => {
          r.readTimer = null;
          markReadIfVisible();
        }, wait);
      }
      return;
    }
    if (!send({ type: 'chat.read', conversation_id: state.openId })) return;
    r.readAt = performance.now();
    // Read says more than delivered: an owed chat.delivered for it is moot.
    r.deliveredDue = 0;
    open.needsRead = false;
    for (const m of open.messages.values()) if (!isMine(m)) m.is_read = true;
    const conversation = state.conversations.get(state.openId);
    if (conversation && conversation.unread) {
      conversation.unread = 0;
      renderConversations();
    }
  }

  document.addEventListener('visibilitychange', markReadIfVisible);
  window.addEventListener('focus', markReadIfVisible);

  // ---- Rendering the open conversation ------------------------------------------------------
  function nearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }

  function renderHeader() {
    const conversation = state.openId !== null ? state.conversations.get(state.openId) : null;
    ui.title.textContent = conversation ? conversationName(conversation) : 'No conversation open';
    renderTyping();
  }

  function renderOpenConversation() {
    const open = state.open;
    ui.placeholder.hidden = !!open;
    ui.composer.hidden = !open;
    renderHeader();
    updateComposer();
    if (!open) {
      ui.historyStatus.textContent = '';
      return;
    }
    const ids = [...open.messages.keys()].sort((a, b) => a - b);
    // Insert new message elements in id order, leaving existing ones (and screen readers) alone.
    let next = null;
    for (let i = ids.length - 1; i >= 0; i -= 1) {
      const id = ids[i];
      let el = open.elements.get(id);
      if (!el) {
        el = messageElement(open.messages.get(id));
        open.elements.set(id, el);
        ui.messageList.insertBefore(el, next);
      }
      next = el;
    }
    if (!open.loaded) ui.historyStatus.textContent = 'Loading messages…';
    else if (open.loadingOlder) ui.historyStatus.textContent = 'Loading older messages…';
    else if (open.hasMore) ui.historyStatus.textContent = 'Scroll up for older messages.';
    else ui.historyStatus.textContent = ids.length ? 'Start of the conversation.' : 'No messages yet. Say hello!';
    renderReceipts();
  }

  function messageElement(message) {
    const li = document.createElement('li');
    li.className = 'message';
    li.dataset.messageId = String(message.id);
    if (message.is_system) li.classList.add('system');
    else if (isMine(message)) li.classList.add('mine');
    else li.classList.add('theirs');

    const meta = document.createElement('p');
    meta.className = 'meta';
    const who = document.createElement('span');
    who.className = 'sender';
    who.textContent = message.is_system ? 'System' : isMine(message) ? 'You' : message.sender.username;
    const time = document.createElement('time');
    const when = new Date(message.timestamp);
    if (!Number.isNaN(when.getTime())) {
      time.dateTime = message.timestamp;
      time.textContent = when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      time.title = when.toLocaleString();
    }
    meta.append(who, ' ', time);

    const body = document.createElement('p');
    body.className = 'content';
    body.textContent = message.content;

    const receipt = document.createElement('p');
    receipt.className = 'receipt';
    receipt.hidden = true;

    li.append(meta, body, receipt);
    return li;
  }

  /** "Seen" under our newest message the other side has read; our newest message's status. */
  function renderReceipts() {
    const open = state.open;
    if (!open) return;
    const mine = [...open.messages.values()].filter(isMine).sort((a, b) => a.id - b.id);
    const newest = mine.length ? mine[mine.length - 1] : null;
    let lastSeen = null;
    for (const m of mine) if (m.status === 'seen' || m.is_read) lastSeen = m;
    for (const [id, el] of open.elements) {
      const receipt = el.lastElementChild; // messageElement appends the receipt last
      let text = '';
      if (lastSeen && id === lastSeen.id) text = 'Seen';
      else if (newest && id === newest.id) text = newest.status === 'delivered' ? 'Delivered' : 'Sent';
      if (receipt.textContent !== text) receipt.textContent = text;
      receipt.hidden = !text;
      receipt.dataset.status = text.toLowerCase();
    }
  }

  // ---- Typing -------------------------------------------------------------------------------
  function isPeerTyping(conversation) {
    return otherParticipants(conversation).some((p) => state.peerTyping.has(p.id));
  }

  function onPeerTyping(senderId, isTyping) {
    if (typeof senderId !== 'number') return;
    clearTimeout(state.peerTyping.get(senderId));
    if (isTyping) {
      state.peerTyping.set(senderId, setTimeout(() => clearPeerTyping(senderId), TYPING_EXPIRY_MS));
    } else {
      state.peerTyping.delete(senderId);
    }
    renderTyping();
    renderConversations();
  }

  function clearPeerTyping(senderId) {
    if (!state.peerTyping.has(senderId)) return;
    clearTimeout(state.peerTyping.get(senderId));
    state.peerTyping.delete(senderId);
    renderTyping();
    renderConversations();
  }

  function renderTyping() {
    const conversation = state.openId !== null ? state.conversations.get(state.openId) : null;
    const names = conversation
      ? otherParticipants(conversation).filter((p) => state.peerTyping.has(p.id)).map((p) => p.username)
      : [];
    const text = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
    if (ui.typing.textContent !== text) ui.typing.textContent = text;
  }

  function onOwnInput() {
    const conversation = state.openId !== null ? state.conversations.get(state.openId) : null;
    const receiver = conversation ? peerId(conversation) : null;
    if (receiver === null || !state.connected) return;
    if (ui.input.value.trim() === '') {
      stopOwnTyping(true);
      return;
    }
    const now = Date.now();
    if (state.typingTo !== receiver || now - state.typingSentAt >= TYPING_SEND_INTERVAL_MS) {
      if (send({ type: 'chat.typing', receiver_id: receiver, is_typing: true })) {
        state.typingSentAt = now;
        state.typingTo = receiver;
      }
    }
    clearTimeout(state.typingIdleTimer);
    state.typingIdleTimer = setTimeout(() => stopOwnTyping(true), TYPING_IDLE_MS);
  }

  /** Ends our "typing" state; tells the receiver when `notify` and we had said we were typing. */
  function stopOwnTyping(notify) {
    clearTimeout(state.typingIdleTimer);
    state.typingIdleTimer = null;
    if (state.typingTo !== null && notify) {
      send({ type: 'chat.typing', receiver_id: state.typingTo, is_typing: false });
    }
    state.typingTo = null;
    state.typingSentAt = 0;
  }

  // ---- Composer -----------------------------------------------------------------------------
  function updateComposer() {
    ui.send.disabled = !state.connected || !state.open;
    ui.input.setAttribute('aria-disabled', String(!state.connected));
  }

  function autoGrow() {
    ui.input.style.height = 'auto';
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
  }

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

  function sendMessage() {
    const content = ui.input.value;
    if (!state.open || content.trim() === '') return;
    if (content.length > 4000) {
      setChatError('A message can have at most 4000 characters.');
      return;
    }
    if (!state.connected) {
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
  function restoreUnsent() {
    const unsent = state.unsent;
    state.unsent = null;
    if (!unsent || unsent.conversationId !== state.openId || ui.input.value !== '') return;
    ui.input.value = unsent.content;
    autoGrow();
  }

  // ---- Search -------------------------------------------------------------------------------
  function clearSearch() {
    clearTimeout(state.searchTimer);
    ui.searchResults.replaceChildren();
    ui.searchResults.hidden = true;
    ui.searchEmpty.hidden = true;
  }

  ui.searchInput.addEventListener('input', () => {
    clearTimeout(state.searchTimer);
    const keyword = ui.searchInput.value.trim();
    if (!keyword) {
      clearSearch();
      return;
    }
    state.searchTimer = setTimeout(() => send({ type: 'chat.search_user', keyword }), SEARCH_DEBOUNCE_MS);
  });

  ui.searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(state.searchTimer);
    const keyword = ui.searchInput.value.trim();
    if (keyword) send({ type: 'chat.search_user', keyword });
  });

  ui.searchInput.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') {
      const first = ui.searchResults.querySelector('button');
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === 'Escape') {
      ui.searchInput.value = '';
      clearSearch();
    }
  });

  // Up and down move between the results; Up from the first goes back to the search box.
  ui.searchResults.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    const buttons = [...ui.searchResults.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const to = event.key === 'ArrowDown' ? Math.min(at + 1, buttons.length - 1) : at - 1;
    if (to < 0) ui.searchInput.focus();
    else buttons[to].focus();
  });

  function renderSearchResults(results) {
    if (!ui.searchInput.value.trim()) return; // answer to a search since cleared
    const list = Array.isArray(results) ? results : [];
    ui.searchResults.replaceChildren();
    for (const user of list) {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'search-result';
      button.textContent = user.username;
      button.setAttribute('aria-label', `Start a conversation with ${user.username}`);
      button.addEventListener('click', () => send({ type: 'chat.start_conversation', receiver_id: user.id }));
      li.append(button);
      ui.searchResults.append(li);
    }
    ui.searchResults.hidden = list.length === 0;
    ui.searchEmpty.hidden = list.length > 0;
  }

  // ---- Start --------------------------------------------------------------------------------
  async function start() {
    if (!loadTokens()) {
      showAuth('');
      return;
    }
    await enterChat();
  }

  start();
})();
