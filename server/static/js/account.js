// The account dialog: change the password (this session goes on, the others end) and delete
// the account (asked twice: the password and a tick). The server judges both; its answers are
// shown beside the field to correct.
import { setLine, ui } from './dom.js';
import { changePassword, deleteAccount } from './session.js';
import { state } from './state.js';

let deletingAccount = false; // our own deletion closes the socket (4001): its answer tells why

let onDeleted = () => {}; // what the page does once the account is gone

/** Wires the dialog; `deleted` is called once the server deleted the account. */
export function initAccount(deleted) {
  onDeleted = deleted;
  ui.accountButton.addEventListener('click', openDialog);
  ui.accountClose.addEventListener('click', () => ui.accountDialog.close());
  // Closed by the button, by Escape, or by leaving the chat: the passwords typed go with it.
  ui.accountDialog.addEventListener('close', () => {
    resetAccountForms();
    if (!ui.chatView.hidden) ui.accountButton.focus();
  });
  ui.passwordForm.addEventListener('submit', submitPassword);
  ui.deleteForm.addEventListener('submit', submitDeletion);
}

/** Whether our own deletion is under way (its answer, not the socket's 4001, tells what happened). */
export function isDeletingAccount() {
  return deletingAccount;
}

/** Closes the dialog if it is open (leaving the chat). */
export function closeAccount() {
  if (ui.accountDialog.open) ui.accountDialog.close();
}

function openDialog() {
  ui.accountName.textContent = state.me.username;
  for (const field of ui.accountDialog.querySelectorAll('.account-username')) field.defaultValue = state.me.username;
  resetAccountForms();
  ui.accountDialog.showModal();
  ui.passwordOld.focus();
}

function resetAccountForms() {
  ui.passwordForm.reset();
  ui.deleteForm.reset();
  for (const line of [ui.passwordError, ui.passwordDone, ui.deleteError]) setLine(line, '');
  ui.passwordSubmit.disabled = ui.deleteSubmit.disabled = false;
}

/** Shows `text` in the form's error line and puts the focus on the field to correct. */
function refuse(errorLine, text, field) {
  setLine(errorLine, text);
  field.focus();
  if (field.select) field.select();
}

async function submitPassword(event) {
  event.preventDefault();
  setLine(ui.passwordError, '');
  setLine(ui.passwordDone, '');
  const oldPassword = ui.passwordOld.value;
  const newPassword = ui.passwordNew.value;
  if (!oldPassword) return refuse(ui.passwordError, 'Enter your current password.', ui.passwordOld);
  if (!newPassword) return refuse(ui.passwordError, 'Enter a new password.', ui.passwordNew);
  if (ui.passwordConfirm.value !== newPassword) {
    return refuse(ui.passwordError, 'The new password and its repetition differ.', ui.passwordConfirm);
  }
  ui.passwordSubmit.disabled = true;
  try {
    await changePassword(oldPassword, newPassword);
    ui.passwordForm.reset();
    setLine(ui.passwordDone, 'Password changed. Your other sessions were signed out; this one goes on.');
  } catch (e) {
    // The server judges the new password (its rules are those of registration).
    if (e.code === 'wrong_password') refuse(ui.passwordError, 'The current password is not correct.', ui.passwordOld);
    else refuse(ui.passwordError, accountFailure(e), e.status === 400 ? ui.passwordNew : ui.passwordOld);
  } finally {
    ui.passwordSubmit.disabled = false;
  }
}

async function submitDeletion(event) {
  event.preventDefault();
  setLine(ui.deleteError, '');
  const password = ui.deletePassword.value;
  if (!password) return refuse(ui.deleteError, 'Enter your password.', ui.deletePassword);
  if (!ui.deleteConfirm.checked) {
    return refuse(ui.deleteError, 'Tick “Yes, delete my account for good” to confirm.', ui.deleteConfirm);
  }
  ui.deleteSubmit.disabled = true;
  deletingAccount = true;
  try {
    await deleteAccount(password);
    onDeleted();
  } catch (e) {
    refuse(ui.deleteError, e.code === 'wrong_password' ? 'The password is not correct.' : accountFailure(e), ui.deletePassword);
  } finally {
    deletingAccount = false;
    ui.deleteSubmit.disabled = false;
  }
}

/** What to say when the server refused an account change for another reason than the password. */
function accountFailure(e) {
  if (e.status === 429) return `Too many attempts: ${e.message}`;
  if (e.status === 401) return 'Your session has ended: sign in again first.';
  return e.message;
}
