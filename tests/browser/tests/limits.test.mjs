// The page's limits come from the server: run.sh starts it with CHAT_MAX_MESSAGE_CHARS=1000
// (not the default 4000), and the composer refuses and counts by that limit, in characters as
// the server counts them (an emoji is one, though it is two UTF-16 units).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BASE_URL,
  ChatClient,
  PASSWORD,
  launchBrowser,
  openPage,
  registerAndLogin,
  uniqueName,
  waitConnected,
} from '../lib/harness.mjs';
import { messageTexts, openConversationWith, recordSentFrames, waitForMessage } from '../lib/page.mjs';

const limit = Number(process.env.CHAT_MAX_MESSAGE_CHARS);
const skip = !limit || limit === 4000
  ? 'needs a server started with CHAT_MAX_MESSAGE_CHARS other than 4000 (run.sh does)'
  : false;

/** Logs `user` in through the form and opens the conversation with `peer`. */
async function logInAndOpen(page, user, peer) {
  await page.goto(`${BASE_URL}/`);
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await waitConnected(page);
  await openConversationWith(page, peer.username);
  // The conversation's history is shown (it comes after the list, the hello and the sync).
  await waitForMessage(page, 'hello dana');
}

describe('the message limit the server was started with', { skip }, () => {
  let browser;
  let dana;
  let eve;
  let eveSocket;

  before(async () => {
    browser = await launchBrowser();
    dana = await registerAndLogin(uniqueName('dana'));
    eve = await registerAndLogin(uniqueName('eve'));
    eveSocket = await ChatClient.connect(eve.access);
    const conversationId = await eveSocket.startConversation(dana.id);
    await eveSocket.say(conversationId, 'hello dana');
  });

  after(async () => {
    await eveSocket?.close();
    await browser?.close();
  });

  test('the composer refuses one character more and sends the limit in emoji', async () => {
    const { context, page, problems } = await openPage(browser);
    const sent = recordSentFrames(page);
    await logInAndOpen(page, dana, eve);
    const box = page.locator('#composer-input');

    const tooLong = 'x'.repeat(limit + 1);
    await box.fill(tooLong);
    await box.press('Enter');
    await page.locator('#chat-error', { hasText: `at most ${limit} characters` }).waitFor();
    assert.equal(await box.inputValue(), tooLong, 'the text stays in the box');

    const emoji = '😀'.repeat(limit); // `limit` characters, twice as many UTF-16 units
    await box.fill(emoji);
    await box.press('Enter');
    await waitForMessage(page, emoji);
    await eveSocket.next((f) => f.type === 'chat.message' && f.message.content === emoji);
    assert.equal(await box.inputValue(), '');
    assert.ok(!(await page.isVisible('#chat-error')), 'the error is gone once a message went out');

    const messages = sent.frames.filter((f) => f.type === 'chat.message').map((f) => f.content);
    assert.deepEqual(messages, [emoji], 'the message over the limit never left the page');
    assert.deepEqual(problems, []);
    await context.close();
  });

  test('a message the server still refuses goes back into the box', async () => {
    const { context, page, problems } = await openPage(browser);
    // Between page and server, this one text grows past the limit: the server refuses it.
    const text = 'this one the server refuses';
    await context.routeWebSocket(/\/ws\/chat\//, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        const frame = JSON.parse(message);
        if (frame.type === 'chat.message' && frame.content === text) frame.content = 'x'.repeat(limit + 1);
        server.send(JSON.stringify(frame));
      });
    });
    await logInAndOpen(page, dana, eve);
    const before = await messageTexts(page);
    const box = page.locator('#composer-input');
    await box.fill(text);
    await box.press('Enter');
    await page.locator('#chat-error').waitFor({ state: 'visible' });
    await page.waitForFunction((t) => document.getElementById('composer-input').value === t, text);
    assert.deepEqual(await messageTexts(page), before, 'nothing was added');
    assert.deepEqual(problems, []);
    await context.close();
  });
});
