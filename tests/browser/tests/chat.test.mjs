// Two people in two browser contexts: they register, find each other, chat, see each other
// typing and reading; a message sent by a non-browser client shows up in the page.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BASE_URL,
  ChatClient,
  PASSWORD,
  launchBrowser,
  openPage,
  publishScreenshot,
  registerInPage,
  rest,
  screenshotPath,
  uniqueName,
} from '../lib/harness.mjs';
import {
  messageTexts,
  openConversationWith,
  receiptUnder,
  recordSentFrames,
  waitForMessage,
  waitForReceipt,
} from '../lib/page.mjs';

describe('two people chatting in the browser', () => {
  const aliceName = uniqueName('alice');
  const bobName = uniqueName('bob');
  let browser;
  let alice;
  let bob;
  let bobSent;

  before(async () => {
    browser = await launchBrowser();
    alice = await openPage(browser);
    bob = await openPage(browser);
    bobSent = recordSentFrames(bob.page);
  });

  after(async () => {
    await browser?.close();
  });

  test('both register through the page and land in the chat view', async () => {
    await registerInPage(alice.page, aliceName);
    await registerInPage(bob.page, bobName);
    assert.equal(await alice.page.textContent('#me-name'), aliceName);
    assert.equal(await bob.page.textContent('#me-name'), bobName);
    const stored = await alice.page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
    assert.ok(stored.access && stored.refresh, 'tokens are kept in localStorage');
    assert.ok(await alice.page.isVisible('#conversations-empty'));
  });

  test('alice finds bob and starts a conversation', async () => {
    const { page } = alice;
    await page.getByLabel('Find people').fill(bobName.slice(0, -2));
    const result = page.getByRole('button', { name: `Start a conversation with ${bobName}` });
    await result.waitFor();
    // Alice herself is never offered.
    assert.equal(await page.getByRole('button', { name: `Start a conversation with ${aliceName}` }).count(), 0);
    // From the keyboard: down into the results, Enter on the one wanted.
    await page.getByLabel('Find people').press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), bobName);
    await page.keyboard.press('Enter');
    await page.locator('#conversation-title', { hasText: bobName }).waitFor();
    assert.ok(await page.isVisible('#composer'));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
  });

  test('a message sent with Enter reaches bob, with a preview and an unread count', async () => {
    await alice.page.locator('#composer-input').fill('Hello Bob');
    await alice.page.locator('#composer-input').press('Enter');
    await waitForMessage(alice.page, 'Hello Bob');
    assert.equal(await alice.page.inputValue('#composer-input'), '', 'the composer is cleared');

    const item = bob.page.locator('.conversation-item', { hasText: aliceName });
    await item.waitFor();
    await item.locator('.unread', { hasText: '1' }).waitFor();
    assert.equal(await item.locator('.preview').textContent(), 'Hello Bob');
    assert.equal(await item.locator('.unread').getAttribute('aria-label'), '1 unread');
    // Bob's page got it without opening it: alice's page says so.
    await waitForReceipt(alice.page, 'Hello Bob', 'Delivered');
    await bob.page.screenshot({ path: screenshotPath('bob-unread') });
  });

  test('bob opens it, alice sees "Seen" under her message', async () => {
    await openConversationWith(bob.page, aliceName);
    await waitForMessage(bob.page, 'Hello Bob');
    await bob.page.locator('.conversation-item', { hasText: aliceName }).locator('.unread').waitFor({ state: 'detached' });
    await waitForReceipt(alice.page, 'Hello Bob', 'Seen');
  });

  test('bob typing shows on alice\'s side, throttled, and goes away when he stops', async () => {
    const typing = alice.page.locator('#typing-indicator');
    const before = bobSent.frames.length;
    const stopped = bobSent.next((f) => f.type === 'chat.typing' && f.is_typing === false, 10_000);
    await bob.page.locator('#composer-input').focus();
    const firstKeyAt = Date.now();
    await bob.page.keyboard.type('Hi alice, how are you doing?', { delay: 60 });
    const lastKeyAt = Date.now();
    await typing.filter({ hasText: `${bobName} is typing…` }).waitFor();
    await alice.page.screenshot({ path: screenshotPath('alice-sees-typing') });
    const started = bobSent.frames.slice(before).filter((f) => f.type === 'chat.typing' && f.is_typing);
    // One frame at the first key, then at most one a second (not one per key: 28 keys).
    const most = Math.ceil((lastKeyAt - firstKeyAt) / 1000) + 1;
    assert.ok(started.length >= 1 && started.length <= most, `typing frames sent: ${started.length}`);
    assert.ok(started.every((f) => typeof f.receiver_id === 'number'));
    // Bob pauses: after 2 s his page says he stopped, and alice's indicator goes away.
    const stop = await stopped;
    assert.ok(Date.now() - lastKeyAt >= 1_000, 'not before the pause is 2 s long');
    assert.equal(stop.receiver_id, started[0].receiver_id);
    await alice.page.waitForFunction(() => document.getElementById('typing-indicator').textContent === '', null, {
      timeout: 5_000,
    });
    const stops = bobSent.frames.slice(before).filter((f) => f.type === 'chat.typing' && !f.is_typing);
    assert.equal(stops.length, 1, 'bob says he stopped once');
  });

  test('Shift+Enter makes a new line; Enter sends; alice reads and bob sees "Seen"', async () => {
    const { page } = bob;
    await page.locator('#composer-input').press('Shift+Enter');
    await page.keyboard.type('second line');
    assert.equal(await page.inputValue('#composer-input'), 'Hi alice, how are you doing?\nsecond line');
    await page.keyboard.press('Enter');
    const text = 'Hi alice, how are you doing?\nsecond line';
    await waitForMessage(alice.page, text);
    await waitForReceipt(bob.page, text, 'Seen');
    // Alice's own newest message still shows that bob read it.
    assert.equal(await receiptUnder(alice.page, 'Hello Bob'), 'Seen');
  });

  test('a message from a terminal client appears in both browsers, as text', async () => {
    const tokens = await rest('POST', '/api/token/', { username: bobName, password: PASSWORD });
    assert.equal(tokens.status, 200);
    const terminal = await ChatClient.connect(tokens.data.access);
    try {
      terminal.send({ type: 'chat.get_conversations' });
      const list = await terminal.next((f) => f.type === 'chat.conversations');
      assert.equal(list.conversations.length, 1);
      const conversationId = list.conversations[0].id;
      const aliceId = list.conversations[0].participants.find((p) => p.user__username === aliceName).user__id;

      // A single "typing" with no "stopped" after it: alice's page lets it expire after 2 s.
      const sentAt = Date.now();
      terminal.send({ type: 'chat.typing', receiver_id: aliceId, is_typing: true });
      await alice.page.locator('#typing-indicator', { hasText: `${bobName} is typing…` }).waitFor();
      await alice.page.waitForFunction(() => document.getElementById('typing-indicator').textContent === '', null, {
        timeout: 8_000,
      });
      // The page's 2 s clock starts when the frame arrives, after it was sent.
      const shownFor = Date.now() - sentAt;
      assert.ok(shownFor >= 1_950 && shownFor < 6_000, `indicator shown for ${shownFor} ms`);

      const text = 'from the terminal: <b>not bold</b> & <script>alert(1)</script>';
      await terminal.say(conversationId, text);
      await waitForMessage(alice.page, text);
      await waitForMessage(bob.page, text); // bob's own other connection gets it too
      for (const { page } of [alice, bob]) {
        assert.equal(await page.locator('#message-list b, #message-list script').count(), 0, 'no markup made');
      }
      // Each message is shown once, in order.
      const texts = await messageTexts(alice.page);
      assert.deepEqual(texts, ['Hello Bob', 'Hi alice, how are you doing?\nsecond line', text]);
      // Alice has the conversation open, so her page reports it read: the sender hears "seen".
      const status = await terminal.next((f) => f.type === 'chat.message_status', 10_000);
      assert.equal(status.status, 'seen');
    } finally {
      await terminal.close();
    }
  });

  test('a message sent with the `chat send` command line appears in both browsers', async (t) => {
    const cli = process.env.CHAT_CLI;
    if (!cli || !existsSync(cli)) {
      t.skip('CHAT_CLI (the `chat` binary of tui-client) is not set');
      return;
    }
    const configDir = mkdtempSync(path.join(os.tmpdir(), 'chat-cli-'));
    const run = (args, input) =>
      new Promise((resolve, reject) => {
        const child = execFile(
          cli,
          ['--server', BASE_URL, ...args],
          { env: { ...process.env, CHAT_CONFIG_DIR: configDir }, timeout: 30_000 },
          (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
        );
        child.stdin.end(input ?? '');
      });
    try {
      await run(['login', bobName, '--password-stdin'], `${PASSWORD}\n`);
      const text = 'sent with chat send';
      const out = JSON.parse(await run(['--json', 'send', '--to', aliceName, text]));
      assert.equal(out.content, text);
      await waitForMessage(alice.page, text);
      await waitForMessage(bob.page, text);
      const texts = await messageTexts(alice.page);
      assert.equal(texts.at(-1), text);
      assert.equal(texts.filter((x) => x === text).length, 1);
    } finally {
      rmSync(configDir, { recursive: true, force: true });
    }
  });

  test('a message the server refuses goes back into the box, with the reason', async (t) => {
    const limit = Number(process.env.CHAT_MAX_MESSAGE_CHARS);
    if (!limit || limit >= 4000) {
      t.skip('needs a server started with CHAT_MAX_MESSAGE_CHARS below 4000 (run.sh does)');
      return;
    }
    const { page } = alice;
    const before = await messageTexts(page);
    const long = 'x'.repeat(limit + 1);
    await page.locator('#composer-input').fill(long);
    await page.locator('#composer-input').press('Enter');
    await page.locator('#chat-error').waitFor({ state: 'visible' });
    assert.ok((await page.textContent('#chat-error')).length > 0);
    await page.waitForFunction((n) => document.getElementById('composer-input').value.length === n, long.length);
    assert.deepEqual(await messageTexts(page), before, 'nothing was added');
    await page.locator('#composer-input').fill('');
  });

  test('screenshots of both sides', async () => {
    await alice.page.screenshot({ path: screenshotPath('alice-chat') });
    await bob.page.screenshot({ path: screenshotPath('bob-chat') });
    assert.ok(statSync(screenshotPath('alice-chat')).size > 10_000, 'a real picture');
    publishScreenshot('alice-chat', 'browser-chat.png');
  });

  test('on a phone-sized screen one pane shows at a time, and Escape goes back', async () => {
    const { page } = alice;
    await page.setViewportSize({ width: 390, height: 844 });
    assert.ok(await page.isVisible('#conversation'));
    assert.ok(!(await page.isVisible('#sidebar')), 'the list is hidden while a conversation is open');
    assert.ok(await page.isVisible('#back-button'));
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling (${width}px)`);
    await page.screenshot({ path: screenshotPath('alice-phone-conversation') });
    publishScreenshot('alice-phone-conversation', 'browser-phone.png');
    await page.keyboard.press('Escape');
    await page.locator('#sidebar').waitFor({ state: 'visible' });
    assert.ok(!(await page.isVisible('#conversation')));
    const focusedItem = () => page.evaluate(() => document.activeElement.classList.contains('conversation-item'));
    assert.equal(await focusedItem(), true);
    // The list redraws when bob starts typing; the keyboard focus stays where it was.
    await bob.page.locator('#composer-input').pressSequentially('x');
    await page.locator('.conversation-item .preview.is-typing').waitFor();
    assert.equal(await focusedItem(), true);
    await bob.page.locator('#composer-input').press('Backspace'); // empty again: bob stops typing
    await page.locator('.conversation-item .preview.is-typing').waitFor({ state: 'detached' });
    await page.screenshot({ path: screenshotPath('alice-phone-list') });
    await page.keyboard.press('Enter'); // the focused conversation opens again from the keyboard
    await page.locator('#conversation').waitFor({ state: 'visible' });
    await page.setViewportSize({ width: 1100, height: 720 });
  });

  test('every control, shown or hidden, has a name a screen reader can read', async () => {
    const unnamed = await alice.page.$$eval('input, textarea, button, [tabindex]', (els) =>
      els
        .filter((el) => {
          const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby') || el.textContent.trim();
          return !named;
        })
        .map((el) => el.id || el.className || el.tagName),
    );
    assert.deepEqual(unnamed, []);
  });

  test('nothing went wrong unseen and nothing left the origin', async () => {
    const origin = new URL(BASE_URL);
    for (const { problems, urls } of [alice, bob]) {
      assert.deepEqual(problems, []);
      for (const url of urls) {
        assert.equal(new URL(url).host, origin.host, url);
      }
      assert.ok(urls.some((u) => u.startsWith(`ws://${origin.host}/ws/chat/?token=`)));
    }
  });
});
