// Sessions and connections: bad logins, expired or forged tokens, a dropped connection that
// comes back without losing or doubling messages, and history paged in when scrolling up.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BASE_URL,
  ChatClient,
  CuttableProxy,
  PASSWORD,
  launchBrowser,
  loginInPage,
  openPage,
  registerAndLogin,
  registerInPage,
  screenshotPath,
  uniqueName,
  waitConnected,
} from '../lib/harness.mjs';
import { messageTexts, openConversationWith, waitForMessage } from '../lib/page.mjs';

/** The same JWT with its signature altered: still unexpired, no longer valid. */
function forge(token) {
  const [head, body, sig] = token.split('.');
  const flipped = sig[0] === 'A' ? `B${sig.slice(1)}` : `A${sig.slice(1)}`;
  return [head, body, flipped].join('.');
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe('logging in', () => {
  test('wrong password and taken names are explained on the form', async () => {
    const name = uniqueName('carol');
    await registerAndLogin(name);
    const { page, context } = await openPage(browser);
    try {
      await page.goto(`${BASE_URL}/`);
      await page.getByLabel('Username').fill(name);
      await page.getByLabel('Password', { exact: true }).fill('not-the-password');
      await page.getByLabel('Password', { exact: true }).press('Enter'); // Enter submits as "Log in"
      await page.locator('#auth-error', { hasText: 'Wrong username or password.' }).waitFor();
      assert.ok(await page.isVisible('#auth-view'));

      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Register' }).click();
      const error = page.locator('#auth-error');
      await error.waitFor({ state: 'visible' });
      assert.ok((await error.textContent()).length > 0);
      assert.equal(await error.getAttribute('role'), 'alert');

      await page.getByRole('button', { name: 'Log in' }).click();
      await page.locator('#chat-view').waitFor({ state: 'visible' });
      await waitConnected(page);
      // The page does not put the password anywhere a URL or storage would keep it.
      assert.ok(!page.url().includes(PASSWORD));
      const stored = await page.evaluate(() => JSON.stringify(localStorage));
      assert.ok(!stored.includes(PASSWORD));
    } finally {
      await context.close();
    }
  });

  test('a reload keeps the session; log out ends it', async () => {
    const name = uniqueName('dave');
    const { page, context } = await openPage(browser);
    try {
      await registerInPage(page, name);
      await page.reload();
      await waitConnected(page);
      assert.equal(await page.textContent('#me-name'), name);
      await page.getByRole('button', { name: 'Log out', exact: true }).click();
      await page.locator('#auth-view').waitFor({ state: 'visible' });
      assert.equal(await page.evaluate(() => localStorage.getItem('chat.tokens')), null);
      await page.reload();
      await page.locator('#auth-view').waitFor({ state: 'visible' });
    } finally {
      await context.close();
    }
  });

  test('an expired access token is refreshed before it is ever used', async () => {
    const user = await registerAndLogin(uniqueName('gina'));
    const { page, context, problems, urls } = await openPage(browser);
    try {
      await page.goto(`${BASE_URL}/`);
      await page.locator('#auth-view').waitFor({ state: 'visible' });
      // An access token whose expiry cannot be read counts as expired.
      await page.evaluate(
        (refresh) => localStorage.setItem('chat.tokens', JSON.stringify({ access: 'expired', refresh })),
        user.refresh,
      );
      const before = urls.length;
      await page.reload();
      await waitConnected(page);
      assert.equal(await page.textContent('#me-name'), user.username);
      const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
      assert.notEqual(stored.access, 'expired');
      assert.notEqual(stored.refresh, user.refresh, 'the refresh token was rotated');
      assert.ok(urls.slice(before).some((u) => u.endsWith('/api/token/refresh/')));
      assert.deepEqual(problems, [], 'no request was refused on the way');
    } finally {
      await context.close();
    }
  });

  test('stored tokens that no longer work lead back to the form, not a dead page', async () => {
    const { page, context } = await openPage(browser);
    try {
      await page.goto(`${BASE_URL}/`);
      await page.evaluate(() =>
        localStorage.setItem('chat.tokens', JSON.stringify({ access: 'x.y.z', refresh: 'not-a-token' })),
      );
      await page.reload();
      await page.locator('#auth-view').waitFor({ state: 'visible' });
      await page.locator('#auth-notice', { hasText: 'session was ended' }).waitFor();
    } finally {
      await context.close();
    }
  });
});

describe('a connection that drops', () => {
  let proxy;
  let alice;
  let bob;
  let bobClient;
  let conversationId;
  let view;
  let sent;

  before(async () => {
    proxy = await CuttableProxy.start();
    alice = { username: uniqueName('alice') };
    bob = await registerAndLogin(uniqueName('bob'));
    view = await openPage(browser);
    // The page is loaded through the proxy, so cutting the proxy cuts the page's socket.
    await registerInPage(view.page, alice.username, PASSWORD, proxy.url);
    bobClient = await ChatClient.connect(bob.access);
    bobClient.send({ type: 'chat.search_user', keyword: alice.username });
    const found = await bobClient.next((f) => f.type === 'chat.search_results');
    assert.equal(found.results.length, 1);
    conversationId = await bobClient.startConversation(found.results[0].id);
    await bobClient.say(conversationId, 'before the drop');
    await openConversationWith(view.page, bob.username);
    await waitForMessage(view.page, 'before the drop');
    sent = [];
  });

  after(async () => {
    await bobClient?.close();
    await view?.context.close();
    await proxy?.stop();
  });

  test('reconnects with backoff and catches up without duplicates', async () => {
    const { page } = view;
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    assert.ok(await page.isDisabled('#send-button'), 'cannot send while disconnected');
    for (const text of ['while away 1', 'while away 2']) await bobClient.say(conversationId, text);
    await page.screenshot({ path: screenshotPath('alice-disconnected') });
    proxy.restore();
    await waitConnected(page);
    await waitForMessage(page, 'while away 2');
    assert.deepEqual(await messageTexts(page), ['before the drop', 'while away 1', 'while away 2']);
    // The catch-up marks them read: bob hears so.
    const read = await bobClient.next((f) => f.type === 'chat.read' && f.conversation_id === conversationId);
    assert.notEqual(read.reader_id, bob.id);
    // And the connection is live again in both directions.
    await page.locator('#composer-input').fill('back again');
    await page.locator('#composer-input').press('Enter');
    await bobClient.next((f) => f.type === 'chat.message' && f.message.content === 'back again');
    await bobClient.say(conversationId, 'welcome back');
    await waitForMessage(page, 'welcome back');
    const texts = await messageTexts(page);
    assert.equal(new Set(texts).size, texts.length, `duplicates: ${texts}`);
  });

  test('after missing more than a page, the sync brings every message, in order, once', async () => {
    const { page } = view;
    const earlier = await messageTexts(page);
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    const missed = Array.from({ length: 60 }, (_, i) => `missed ${i + 1}`);
    for (const text of missed) await bobClient.say(conversationId, text);
    proxy.restore();
    await waitConnected(page);
    await waitForMessage(page, 'missed 60');
    // No gap to page back over: the sync replayed all 60 after what the page had.
    assert.deepEqual(await messageTexts(page), [...earlier, ...missed]);
  });

  test('a rejected token (close 4001) is refreshed silently', async () => {
    const { page } = view;
    const before = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
    await page.evaluate(
      (forged) => localStorage.setItem('chat.tokens', JSON.stringify({ ...JSON.parse(localStorage.getItem('chat.tokens')), access: forged })),
      forge(before.access),
    );
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    proxy.restore();
    await waitConnected(page);
    const afterTokens = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
    assert.notEqual(afterTokens.access, forge(before.access), 'the forged token was replaced');
    assert.notEqual(afterTokens.refresh, before.refresh, 'the refresh token was rotated');
    assert.ok(await page.isVisible('#chat-view'));
    await bobClient.say(conversationId, 'after the refresh');
    await waitForMessage(page, 'after the refresh');
  });

  test('with the refresh token gone bad too, the page asks to log in again', async () => {
    const { page } = view;
    const tokens = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
    await page.evaluate(
      (t) => localStorage.setItem('chat.tokens', JSON.stringify(t)),
      { access: forge(tokens.access), refresh: forge(tokens.refresh) },
    );
    proxy.cut();
    proxy.restore();
    await page.locator('#auth-view').waitFor({ state: 'visible' });
    await page.locator('#auth-notice', { hasText: 'session was ended' }).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('chat.tokens')), null);
    assert.deepEqual(view.problems.filter((p) => !p.includes('401') && !p.includes('WebSocket')), []);
  });
});

describe('history', () => {
  test('older pages load when scrolling up, in order and once each', async () => {
    const eve = await registerAndLogin(uniqueName('eve'));
    const frank = await registerAndLogin(uniqueName('frank'));
    const client = await ChatClient.connect(frank.access);
    const total = 120; // more than two pages of 50
    try {
      const id = await client.startConversation(eve.id);
      for (let i = 1; i <= total; i += 1) {
        await client.say(id, `message ${i}`);
      }
    } finally {
      await client.close();
    }
    const { page, context, problems } = await openPage(browser, { viewport: { width: 900, height: 600 } });
    try {
      await loginInPage(page, eve.username);
      const item = page.locator('.conversation-item', { hasText: frank.username });
      assert.equal(await item.locator('.unread').textContent(), String(total));
      assert.equal(await item.locator('.preview').textContent(), `message ${total}`);
      assert.equal(await page.title(), `(${total}) Chat`);
      await openConversationWith(page, frank.username);
      await waitForMessage(page, `message ${total}`);
      const first = await messageTexts(page);
      assert.ok(first.length < total, `only the newest page at first (${first.length})`);
      assert.equal(first.at(-1), `message ${total}`);
      // The newest message is in view, at the bottom.
      assert.ok(await page.evaluate(() => {
        const s = document.getElementById('message-scroller');
        return s.scrollHeight - s.scrollTop - s.clientHeight < 60;
      }));
      for (let round = 0; round < 10; round += 1) {
        const texts = await messageTexts(page);
        if (texts[0] === 'message 1') break;
        await page.evaluate(() => {
          document.getElementById('message-scroller').scrollTop = 0;
        });
        await page.waitForFunction((n) => document.querySelectorAll('#message-list .message').length > n, texts.length);
      }
      const texts = await messageTexts(page);
      assert.deepEqual(texts, Array.from({ length: total }, (_, i) => `message ${i + 1}`));
      await page.locator('#history-status', { hasText: 'Start of the conversation.' }).waitFor();
      await page.waitForFunction(() => document.title === 'Chat'); // read, so nothing unread
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
