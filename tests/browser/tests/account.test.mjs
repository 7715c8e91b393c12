// The account dialog (issue 17): changing the password keeps this tab signed in and ends the
// user's other sessions; the server's refusals are shown by the field they concern; deleting the
// account returns the page to the sign-in screen, and the peer's history keeps the messages, from
// "deleted user".
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ChatClient,
  PASSWORD,
  launchBrowser,
  loginInPage,
  openPage,
  publishScreenshot,
  registerAndLogin,
  registerInPage,
  rest,
  screenshotPath,
  uniqueName,
} from '../lib/harness.mjs';
import { openConversationWith, waitForMessage } from '../lib/page.mjs';

const ENDED = 'Your session was ended (signed out elsewhere or password changed). Please sign in again.';
const NEW_PASSWORD = 'another-horse-battery';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Opens the account dialog from the top bar; the focus lands on the current password. */
async function openAccount(page) {
  await page.getByRole('button', { name: 'Account', exact: true }).click();
  await page.getByRole('dialog', { name: 'Account' }).waitFor();
  assert.equal(await focusedId(page), 'password-old');
}

function focusedId(page) {
  return page.evaluate(() => document.activeElement && document.activeElement.id);
}

/** Fills the password form and submits it from the keyboard. */
async function submitPasswordChange(page, oldPassword, newPassword, repeated = newPassword) {
  await page.getByLabel('Current password').fill(oldPassword);
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await page.getByLabel('New password again').fill(repeated);
  await page.getByLabel('New password again').press('Enter');
}

/** Counts the page's requests to `path` from now on. */
function countRequests(page, path) {
  const seen = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === path) seen.push(r.method());
  });
  return seen;
}

/** What went wrong unseen, but for the refusals (400) and ended sessions (401) a test causes. */
function unexpected(problems) {
  return problems.filter((p) => !/status of 40[01]/.test(p));
}

async function login(username, password) {
  return (await rest('POST', '/api/token/', { username, password })).status;
}

/**
 * Alice (with a session of her own over REST, `alice.refresh`) signed in on page `a`, and bob's
 * node client, who has started a conversation with her; `b` is a second browser context.
 */
async function aliceAndBob(prefix) {
  const alice = await registerAndLogin(uniqueName(prefix));
  const bob = await registerAndLogin(uniqueName('peer'));
  const bobClient = await ChatClient.connect(bob.access);
  await bobClient.startConversation(alice.id);
  const a = await openPage(browser);
  const b = await openPage(browser);
  await loginInPage(a.page, alice.username);
  const close = async () => {
    await a.context.close();
    await b.context.close();
    await bobClient.close();
  };
  return { alice, bob, bobClient, a, b, close };
}

describe('the account dialog', () => {
  test('a password change keeps this tab chatting and ends the other sessions', async () => {
    const { alice, bob, bobClient, a, b, close } = await aliceAndBob('chg');
    const name = alice.username;
    try {
      // The same user signed in in another browser (another session).
      await loginInPage(b.page, name);

      await openAccount(a.page);
      assert.equal(await a.page.textContent('#account-name'), name);
      await submitPasswordChange(a.page, PASSWORD, NEW_PASSWORD);
      await a.page.getByRole('status').filter({ hasText: 'Password changed.' }).waitFor();
      assert.equal(await a.page.inputValue('#password-old'), '', 'the passwords typed are gone');
      await a.page.screenshot({ path: screenshotPath('account-changed') });

      // The other browser's session was ended by the server.
      await b.page.locator('#auth-view').waitFor({ state: 'visible', timeout: 10_000 });
      await b.page.locator('#auth-notice', { hasText: ENDED }).waitFor();

      // Escape closes the dialog and gives the focus back to the button that opened it.
      await a.page.keyboard.press('Escape');
      await a.page.locator('#account-dialog').waitFor({ state: 'hidden' });
      assert.equal(await focusedId(a.page), 'account-button');

      // This tab goes on with the tokens it has: it sends, receives, and survives a reload.
      await openConversationWith(a.page, bob.username);
      await a.page.locator('#composer-input').fill('still here after the change');
      await a.page.locator('#composer-input').press('Enter');
      await bobClient.next((f) => f.type === 'chat.message' && f.message.content === 'still here after the change');
      await a.page.reload();
      await a.page.locator('#connection-status[data-state="connected"]').waitFor({ state: 'attached' });
      await openConversationWith(a.page, bob.username);
      await waitForMessage(a.page, 'still here after the change');
      assert.equal(await a.page.isVisible('#auth-view'), false);

      // The old password no longer logs in, the new one does; the REST session made before the
      // change was ended with the rest.
      assert.equal(await login(name, PASSWORD), 401);
      assert.equal(await login(name, NEW_PASSWORD), 200);
      const oldRefresh = await rest('POST', '/api/token/refresh/', { refresh: alice.refresh });
      assert.equal(oldRefresh.status, 401, oldRefresh.text);
      assert.deepEqual(unexpected([...a.problems, ...b.problems]), []);
    } finally {
      await close();
    }
  });

  test('refusals are shown by the field they concern, and change nothing', async () => {
    const name = uniqueName('ref');
    const { page, context, problems } = await openPage(browser);
    try {
      await registerInPage(page, name);
      const other = await rest('POST', '/api/token/', { username: name, password: PASSWORD });
      const calls = countRequests(page, '/api/password/');
      await openAccount(page);

      // The two new passwords differ: the page says so and sends nothing.
      await submitPasswordChange(page, PASSWORD, NEW_PASSWORD, `${NEW_PASSWORD}!`);
      await page.getByRole('alert').filter({ hasText: 'The new password and its repetition differ.' }).waitFor();
      assert.equal(await focusedId(page), 'password-confirm');
      assert.equal(calls.length, 0);

      // A wrong current password: the server's wrong_password, by the current password's field.
      await submitPasswordChange(page, 'not-my-password', NEW_PASSWORD);
      await page.getByRole('alert').filter({ hasText: 'The current password is not correct.' }).waitFor();
      assert.equal(await focusedId(page), 'password-old');
      await page.screenshot({ path: screenshotPath('account-wrong-password') });
      publishScreenshot('account-wrong-password', 'browser-account.png');

      // A new password too short: the server's rule, in its words, by the new password's field.
      await submitPasswordChange(page, PASSWORD, 'short');
      await page.getByRole('alert').filter({ hasText: 'Password must be at least 8 characters.' }).waitFor();
      assert.equal(await focusedId(page), 'password-new');
      assert.equal(calls.length, 2);

      // Nothing changed: the password logs in, the other session goes on, and so does the page.
      assert.equal(await login(name, PASSWORD), 200);
      const refreshed = await rest('POST', '/api/token/refresh/', { refresh: other.data.refresh });
      assert.equal(refreshed.status, 200, refreshed.text);
      await page.getByRole('button', { name: 'Close account settings' }).click();
      assert.equal(await focusedId(page), 'account-button');
      assert.equal(await page.getAttribute('#connection-status', 'data-state'), 'connected');
      assert.deepEqual(unexpected(problems), []);
    } finally {
      await context.close();
    }
  });

  test('deleting the account signs out and leaves its messages from "deleted user"', async () => {
    const { alice, bob, bobClient, a, b, close } = await aliceAndBob('del');
    const name = alice.username;
    try {
      bobClient.send({ type: 'chat.create_group', title: 'Farewell', member_ids: [alice.id] });
      await bobClient.next((f) => f.type === 'chat.conversation_started' && f.conversation.title === 'Farewell');
      await a.page.locator('.conversation-item', { hasText: 'Farewell' }).waitFor();
      for (const [conversation, text] of [[bob.username, 'a word before I go'], ['Farewell', 'and one for the group']]) {
        await openConversationWith(a.page, conversation);
        await a.page.locator('#composer-input').fill(text);
        await a.page.locator('#composer-input').press('Enter');
        await waitForMessage(a.page, text);
      }
      await loginInPage(b.page, bob.username);

      await openAccount(a.page);
      const form = a.page.getByRole('form', { name: 'Delete account' });
      // Without the explicit confirmation nothing is sent.
      const calls = countRequests(a.page, '/api/me/');
      await a.page.getByLabel('Your password').fill(PASSWORD);
      await form.getByRole('button', { name: 'Delete account' }).click();
      await a.page.getByRole('alert').filter({ hasText: 'to confirm' }).waitFor();
      assert.equal(await focusedId(a.page), 'delete-confirm');
      assert.deepEqual(calls, []);
      // A wrong password: refused, nothing changed.
      await a.page.getByLabel('Yes, delete my account for good').check();
      await a.page.getByLabel('Your password').fill('not-my-password');
      await form.getByRole('button', { name: 'Delete account' }).click();
      await a.page.getByRole('alert').filter({ hasText: 'The password is not correct.' }).waitFor();
      assert.equal(await focusedId(a.page), 'delete-password');
      assert.deepEqual(calls, ['DELETE']);
      assert.equal(await login(name, PASSWORD), 200);

      await a.page.getByLabel('Your password').fill(PASSWORD);
      await a.page.getByLabel('Your password').press('Enter');
      await a.page.locator('#auth-view').waitFor({ state: 'visible' });
      await a.page.locator('#auth-notice', { hasText: 'Your account was deleted.' }).waitFor();
      assert.equal(await a.page.evaluate(() => localStorage.getItem('chat.tokens')), null);
      assert.equal(await focusedId(a.page), 'auth-username');
      assert.equal(await login(name, PASSWORD), 401);

      // Bob's page: the direct conversation is with "deleted user" now, the messages stay, and
      // in the group they carry that name.
      await b.page.reload();
      await b.page.locator('#connection-status[data-state="connected"]').waitFor({ state: 'attached' });
      await openConversationWith(b.page, 'deleted user');
      await waitForMessage(b.page, 'a word before I go');
      await openConversationWith(b.page, 'Farewell');
      await waitForMessage(b.page, 'and one for the group');
      const sender = await b.page.evaluate(() => {
        const message = [...document.querySelectorAll('#message-list .message')]
          .find((li) => li.querySelector('.content').textContent === 'and one for the group');
        return message.querySelector('.sender').textContent;
      });
      assert.equal(sender, 'deleted user');
      await b.page.screenshot({ path: screenshotPath('account-deleted-peer') });
      assert.deepEqual(unexpected([...a.problems, ...b.problems]), []);
    } finally {
      await close();
    }
  });
});
