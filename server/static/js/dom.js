// The page's elements, looked up once, and the setters of its views and status lines.

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
};

export const ui = {
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
  mePresence: $('me-presence'),
  presenceButton: $('presence-button'),
  accountButton: $('account-button'),
  accountDialog: $('account-dialog'),
  accountClose: $('account-close'),
  accountName: $('account-name'),
  passwordForm: $('password-form'),
  passwordOld: $('password-old'),
  passwordNew: $('password-new'),
  passwordConfirm: $('password-confirm'),
  passwordError: $('password-error'),
  passwordDone: $('password-done'),
  passwordSubmit: $('password-submit'),
  deleteForm: $('delete-form'),
  deletePassword: $('delete-password'),
  deleteConfirm: $('delete-confirm'),
  deleteError: $('delete-error'),
  deleteSubmit: $('delete-submit'),
  logout: $('logout-button'),
  logoutAll: $('logout-all-button'),
  searchForm: $('search-form'),
  searchInput: $('search-input'),
  searchResults: $('search-results'),
  searchEmpty: $('search-empty'),
  newGroup: $('new-group-button'),
  groupForm: $('group-form'),
  groupTitle: $('group-title'),
  groupPicked: $('group-picked'),
  groupError: $('group-error'),
  groupCancel: $('group-cancel'),
  conversationList: $('conversation-list'),
  conversationsEmpty: $('conversations-empty'),
  back: $('back-button'),
  title: $('conversation-title'),
  presenceLine: $('conversation-presence'),
  typing: $('typing-indicator'),
  membersButton: $('members-button'),
  membersPanel: $('members-panel'),
  memberList: $('member-list'),
  addForm: $('add-form'),
  addInput: $('add-input'),
  addResults: $('add-results'),
  addEmpty: $('add-empty'),
  renameForm: $('rename-form'),
  renameInput: $('rename-input'),
  muteButton: $('mute-button'),
  leaveButton: $('leave-button'),
  readersPanel: $('readers-panel'),
  readersRead: $('readers-read'),
  readersDelivered: $('readers-delivered'),
  readersClose: $('readers-close'),
  scroller: $('message-scroller'),
  historyStatus: $('history-status'),
  messageList: $('message-list'),
  placeholder: $('conversation-placeholder'),
  chatError: $('chat-error'),
  pendingList: $('pending-list'),
  composer: $('composer'),
  composerContext: $('composer-context'),
  composerContextText: $('composer-context-text'),
  composerCancel: $('composer-context-cancel'),
  input: $('composer-input'),
  send: $('send-button'),
};

export function showView(name) {
  ui.loadingView.hidden = name !== 'loading';
  ui.authView.hidden = name !== 'auth';
  ui.chatView.hidden = name !== 'chat';
}

/** Shows `text` in the status or error line `el`, or hides the line when `text` is empty. */
export function setLine(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

export function setAuthError(text) {
  setLine(ui.authError, text);
}

export function setChatError(text) {
  setLine(ui.chatError, text);
}

export function setConnection(text, kind) {
  ui.connection.textContent = text;
  ui.connection.dataset.state = kind;
}
