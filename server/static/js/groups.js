// Groups: creating one (a name, and people chosen with the sidebar's search), and the open
// group's members panel: names and roles, and what our role allows (docs/protocol.md, "Groups"):
// the owner and admins add people and rename, the owner removes anyone and makes admins, an
// admin removes members; everyone mutes and leaves.
import { ui } from './dom.js';
import { searchBox } from './search.js';
import { send } from './socket.js';
import { isGroup, myRole, openItem, state } from './state.js';

const ROLE_NAMES = { owner: 'owner', admin: 'admin', member: 'member' };

const creating = {
  open: false,
  picked: new Map(), // user id -> username, in the order chosen
};
let panelOpen = false;

/** Wires the new-group form and the members panel. */
export function initGroups() {
  ui.newGroup.addEventListener('click', () => (creating.open ? closeGroupForm() : openGroupForm()));
  ui.groupCancel.addEventListener('click', closeGroupForm);
  ui.groupForm.addEventListener('submit', (event) => {
    event.preventDefault();
    createGroup();
  });
  ui.groupPicked.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-user-id]');
    if (!button) return;
    creating.picked.delete(Number(button.dataset.userId));
    renderPicked();
  });

  ui.membersButton.addEventListener('click', () => {
    panelOpen = !panelOpen;
    renderMembers();
  });
  ui.memberList.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    const group = openItem();
    if (!button || !group) return;
    const userId = Number(button.dataset.userId);
    if (button.dataset.action === 'remove') {
      send({ type: 'chat.remove_member', conversation_id: group.id, user_id: userId });
    } else {
      send({ type: 'chat.set_role', conversation_id: group.id, user_id: userId, role: button.dataset.action });
    }
  });
  searchBox({
    form: ui.addForm,
    input: ui.addInput,
    results: ui.addResults,
    empty: ui.addEmpty,
    pick(user) {
      const group = openItem();
      if (group && send({ type: 'chat.add_members', conversation_id: group.id, user_ids: [user.id] })) {
        ui.addInput.value = '';
        ui.addResults.replaceChildren();
        ui.addResults.hidden = true;
      }
    },
    label: (user) => `Add ${user.username} to the group`,
  });
  ui.renameForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const group = openItem();
    const title = ui.renameInput.value.trim();
    if (group && title && title !== group.title) {
      send({ type: 'chat.rename_group', conversation_id: group.id, title });
    }
  });
  ui.muteButton.addEventListener('click', () => {
    const group = openItem();
    if (group) send({ type: 'chat.mute', conversation_id: group.id, muted: !group.muted });
  });
  ui.leaveButton.addEventListener('click', () => {
    const group = openItem();
    if (group) send({ type: 'chat.leave', conversation_id: group.id });
  });
}

// ---- Creating a group -----------------------------------------------------------------------
/** Whether the sidebar's search is choosing people for a new group. */
export function isCreatingGroup() {
  return creating.open;
}

/** Adds someone found with the sidebar's search to the group being created. */
export function pickForGroup(user) {
  creating.picked.set(user.id, user.username);
  renderPicked();
  ui.searchInput.focus();
}

function openGroupForm() {
  creating.open = true;
  creating.picked.clear();
  ui.groupTitle.value = '';
  setGroupError('');
  renderPicked();
  ui.groupForm.hidden = false;
  ui.newGroup.setAttribute('aria-expanded', 'true');
  ui.groupTitle.focus();
}

function closeGroupForm() {
  creating.open = false;
  creating.picked.clear();
  ui.groupForm.hidden = true;
  ui.newGroup.setAttribute('aria-expanded', 'false');
}

function createGroup() {
  const title = ui.groupTitle.value.trim();
  if (!title) {
    setGroupError('Give the group a name.');
    return;
  }
  if (creating.picked.size === 0) {
    setGroupError('Choose at least one person with “Find people”.');
    return;
  }
  // The server answers with chat.conversation_started, which opens the group.
  if (send({ type: 'chat.create_group', title, member_ids: [...creating.picked.keys()] })) {
    closeGroupForm();
  } else {
    setGroupError('Not connected: try again when the connection is back.');
  }
}

function setGroupError(text) {
  ui.groupError.textContent = text;
  ui.groupError.hidden = !text;
}

function renderPicked() {
  ui.groupPicked.replaceChildren();
  for (const [id, username] of creating.picked) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = username;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'link';
    remove.dataset.userId = String(id);
    remove.textContent = '×';
    remove.setAttribute('aria-label', `Do not add ${username}`);
    li.append(name, ' ', remove);
    ui.groupPicked.append(li);
  }
}

/** Forgets the form and the panel (logging out). */
export function resetGroups() {
  closeGroupForm();
  panelOpen = false;
}

// ---- The members panel ----------------------------------------------------------------------
/** The open group's "Members" button and, when shown, its panel; hidden for a direct one. */
export function renderMembers() {
  const group = openItem();
  const shown = !!group && isGroup(group);
  ui.membersButton.hidden = !shown;
  ui.membersPanel.hidden = !shown || !panelOpen;
  ui.membersButton.setAttribute('aria-expanded', String(shown && panelOpen));
  if (!shown) return;
  ui.membersButton.textContent = `Members (${group.memberCount})`;
  const role = myRole(group);
  const manages = role === 'owner' || role === 'admin';

  ui.memberList.replaceChildren();
  for (const member of group.participants) {
    const li = document.createElement('li');
    li.className = 'member';
    li.dataset.userId = String(member.id);
    const name = document.createElement('span');
    name.className = 'member-name';
    name.textContent = state.me && member.id === state.me.id ? `${member.username} (you)` : member.username;
    const badge = document.createElement('span');
    badge.className = 'role';
    badge.textContent = ROLE_NAMES[member.role] || '';
    li.append(name, ' ', badge);
    for (const [action, label] of memberActions(role, member)) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'link';
      button.dataset.action = action;
      button.dataset.userId = String(member.id);
      button.textContent = label;
      button.setAttribute('aria-label', `${label}: ${member.username}`);
      li.append(' ', button);
    }
    ui.memberList.append(li);
  }
  ui.addForm.hidden = !manages;
  if (!manages) {
    ui.addResults.hidden = true;
    ui.addEmpty.hidden = true;
  }
  ui.renameForm.hidden = !manages;
  if (document.activeElement !== ui.renameInput) ui.renameInput.value = group.title || '';
  ui.muteButton.textContent = group.muted ? 'Unmute' : 'Mute';
  ui.muteButton.setAttribute('aria-pressed', String(group.muted));
}

/** What `role` may do to `member`: [action, label] pairs; the action is a role or 'remove'. */
function memberActions(role, member) {
  if (state.me && member.id === state.me.id) return []; // ourselves: "Leave group"
  const actions = [];
  if (role === 'owner' && member.role === 'member') actions.push(['admin', 'Make admin']);
  if (role === 'owner' && member.role === 'admin') actions.push(['member', 'Make member']);
  if ((role === 'owner' && member.role !== 'owner') || (role === 'admin' && member.role === 'member')) {
    actions.push(['remove', 'Remove']);
  }
  return actions;
}
