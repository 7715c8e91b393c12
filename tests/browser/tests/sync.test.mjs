// Gapless resume: alice's page (through the cuttable proxy) is cut off while bob and carol, as
// node clients, write in two conversations, edit, react, read and create a group with her; when
// the connection is back the page asks for what it missed with `chat.sync` from its cursor (no
// list or history reload) and shows each event once; the cursor is kept in localStorage and a
// reload syncs from it and shows the same.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ChatClient,
  CuttableProxy,
  PASSWORD,
  launchBrowser,
  openPage,
  registerAndLogin,
  registerInPage,
  uniqueName,
  waitConnected,
} from '../lib/harness.mjs';
import { messageTexts, openConversationWith, recordSentFrames, waitForMessage, waitForReceipt } from '../lib/page.mjs';

/** What the list shows for the conversation named `name` (a group's title): its unread badge ('' when none). */
function badgeOf(page, name) {
  return page.evaluate((n) => {
    const item = [...document.querySelectorAll('.conversation-item')].find(
      (el) => el.querySelector('.conversation-name').firstChild.textContent === n,
    );
    if (!item) return null;
    const badge = item.querySelector('.unread');
    return badge ? badge.textContent : '';
  }, name);
}

async function waitBadge(page, name, want) {
  await page.waitForFunction(
    ([n, w]) => {
      const item = [...document.querySelectorAll('.conversation-item')].find(
        (el) => el.querySelector('.conversation-name').firstChild.textContent === n,
      );
      const badge = item && item.querySelector('.unread');
      return !!item && (badge ? badge.textContent : '') === w;
    },
    [name, want],
  );
}

/** The open conversation's messages: [{text, edited, chips, receipt}], oldest first. */
function shownMessages(page) {
  return page.$$eval('#message-list > .message', (els) =>
    els.map((li) => {
      const r = li.querySelector('.receipt');
      return {
        id: Number(li.dataset.messageId),
        text: li.querySelector('.content').textContent,
        edited: !!li.querySelector('.edited'),
        chips: [...li.querySelectorAll('.reaction')].map(
          (el) => `${el.querySelector('.reaction-emoji').textContent} ${el.querySelector('.reaction-count').textContent}`,
        ),
        receipt: r && !r.hidden ? r.textContent : '',
      };
    }),
  );
}

/** Sends a message from a node client; resolves to the frame echoing it, with its `seq`. */
async function sayFrame(client, conversationId, content) {
  client.send({ type: 'chat.message', conversation_id: conversationId, content });
  return client.next((f) => f.type === 'chat.message' && f.message.conversation_id === conversationId && f.message.content === content);
}

/** The first frame matching `pred` the page sent from index `from` on, waiting for it. */
async function sentFrom(sent, from, pred) {
  for (let i = 0; i < 100; i += 1) {
    const found = sent.frames.slice(from).find(pred);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the page sent no such frame');
}

function cursorKey(origin, userId) {
  return `chat.sync.cursor:${origin}:${userId}`;
}

describe('resuming after a dropped connection', () => {
  let browser;
  let proxy;
  let view;
  let sent;
  let alice; // {username, id}
  let bob;
  let carol;
  let bobClient;
  let carolClient;
  let direct; // bob and alice
  let other; // carol and alice
  let mine; // alice's message, in `direct`
  let bobsFirst; // bob's first message, edited while alice is away
  let lastSeq; // the seq of the newest event alice should have

  before(async () => {
    browser = await launchBrowser();
    proxy = await CuttableProxy.start();
    alice = { username: uniqueName('alice') };
    bob = await registerAndLogin(uniqueName('bob'));
    carol = await registerAndLogin(uniqueName('carol'));
    view = await openPage(browser);
    sent = recordSentFrames(view.page);
    await registerInPage(view.page, alice.username, PASSWORD, proxy.url);
    alice.id = await view.page.evaluate(() => JSON.parse(atob(JSON.parse(localStorage.getItem('chat.tokens')).access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).user_id);
    bobClient = await ChatClient.connect(bob.access);
    carolClient = await ChatClient.connect(carol.access);
    direct = await bobClient.startConversation(alice.id);
    other = await carolClient.startConversation(alice.id);
    bobsFirst = await bobClient.say(direct, 'hello alice');
    await carolClient.say(other, 'hi from carol');
    await openConversationWith(view.page, bob.username);
    await waitForMessage(view.page, 'hello alice');
    await view.page.locator('#composer-input').fill('alice says hi');
    await view.page.locator('#composer-input').press('Enter');
    mine = (await bobClient.next((f) => f.type === 'chat.message' && f.message.content === 'alice says hi')).message;
    await waitBadge(view.page, carol.username, '1');
    // The page has its cursor once its first sync is answered.
    await view.page.waitForFunction((key) => localStorage.getItem(key) !== null, cursorKey(proxy.url, alice.id));
  });

  after(async () => {
    await bobClient?.close();
    await carolClient?.close();
    await view?.context.close();
    await proxy?.stop();
    await browser?.close();
  });

  test('the page syncs from its cursor and shows every missed event once', async () => {
    const { page } = view;
    const key = cursorKey(proxy.url, alice.id);
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    const cursorBefore = Number(await page.evaluate((k) => localStorage.getItem(k), key));
    assert.ok(cursorBefore > 0, 'a cursor was saved');

    // While alice is away: messages in both conversations, an edit, a reaction, a read of her
    // message and a new group with her.
    bobClient.send({ type: 'chat.edit', message_id: bobsFirst.id, content: 'hello alice, edited' });
    await bobClient.next((f) => f.type === 'chat.message_updated' && f.message.id === bobsFirst.id);
    bobClient.send({ type: 'chat.react', message_id: mine.id, emoji: '👍', add: true });
    await bobClient.next((f) => f.type === 'chat.message_updated' && f.message.id === mine.id);
    bobClient.send({ type: 'chat.read', conversation_id: direct });
    await bobClient.next((f) => f.type === 'chat.read' && f.conversation_id === direct);
    await bobClient.say(direct, 'away 1');
    await carolClient.say(other, 'away c1');
    await carolClient.say(other, 'away c2');
    const title = uniqueName('Sync');
    bobClient.send({ type: 'chat.create_group', title, member_ids: [alice.id, carol.id] });
    const group = (await bobClient.next((f) => f.type === 'chat.conversation_started')).conversation.id;
    lastSeq = (await sayFrame(bobClient, group, 'in the group')).seq;
    assert.ok(Number.isInteger(lastSeq));

    const since = sent.frames.length;
    bobClient.frames.splice(0); // from here on: what alice's page makes the server tell bob
    proxy.restore();
    await waitConnected(page);
    await waitForMessage(page, 'away 1');
    await waitBadge(page, title, '1');
    await waitBadge(page, carol.username, '3');
    await waitForReceipt(page, 'alice says hi', 'Seen');

    // What the page asked for: the events since its cursor, not the list or the history again.
    const asked = sent.frames.slice(since);
    const syncs = asked.filter((f) => f.type === 'chat.sync');
    assert.ok(syncs.length >= 1, `no chat.sync sent: ${JSON.stringify(asked)}`);
    assert.equal(syncs[0].since, cursorBefore);
    assert.deepEqual(asked.filter((f) => f.type === 'chat.get_conversations' || f.type === 'chat.get_messages'), []);

    // Bob's conversation: each message once, the edit, the reaction chip and "Seen".
    await page.waitForFunction(() => document.querySelector('#message-list .edited') !== null);
    await page.waitForFunction(() => document.querySelector('#message-list .reaction') !== null);
    const shown = await shownMessages(page);
    assert.deepEqual(shown.map((m) => m.text), ['hello alice, edited', 'alice says hi', 'away 1']);
    assert.equal(new Set(shown.map((m) => m.id)).size, shown.length, 'no message element twice');
    assert.ok(shown[0].edited, 'the edit shows "(edited)"');
    assert.deepEqual(shown[1].chips, ['👍 1']);
    assert.equal(shown[1].receipt, 'Seen');
    // The other conversations: counted once each (carol's first was already unread), the new
    // group in the list with bob's message counted and its system message not.
    assert.equal(await badgeOf(page, carol.username), '3');
    assert.equal(await badgeOf(page, title), '1');
    assert.equal(await badgeOf(page, bob.username), '', 'the open conversation counts nothing unread');
    // Alice's page reads what came in the open conversation (bob hears it) before she reloads.
    await bobClient.next((f) => f.type === 'chat.read' && f.conversation_id === direct && f.reader_id === alice.id);

    // The cursor moved past everything alice got.
    await page.waitForFunction(([k, min]) => Number(localStorage.getItem(k)) >= min, [key, lastSeq]);

    // A reload loads the list, then syncs from the saved cursor; it shows the same.
    const saved = Number(await page.evaluate((k) => localStorage.getItem(k), key));
    const beforeReload = sent.frames.length;
    await page.reload();
    await waitConnected(page);
    await waitBadge(page, carol.username, '3');
    await waitBadge(page, title, '1');
    await page.waitForFunction(
      ([k, s]) => Number(localStorage.getItem(k)) >= s,
      [key, saved],
    );
    const reloadSync = await sentFrom(sent, beforeReload, (f) => f.type === 'chat.sync');
    const afterReload = sent.frames.slice(beforeReload);
    assert.equal(reloadSync.since, saved, 'from the saved cursor');
    const listAt = afterReload.findIndex((f) => f.type === 'chat.get_conversations');
    assert.ok(
      listAt >= 0 && listAt < afterReload.indexOf(reloadSync),
      'after loading the list',
    );
    assert.equal(await badgeOf(page, bob.username), '', 'read before the reload');

    await openConversationWith(page, bob.username);
    await waitForMessage(page, 'away 1');
    await waitForReceipt(page, 'alice says hi', 'Seen');
    const again = await shownMessages(page);
    assert.deepEqual(again.map((m) => [m.text, m.edited, m.chips]), shown.map((m) => [m.text, m.edited, m.chips]));

    await openConversationWith(page, carol.username);
    await waitForMessage(page, 'away c2');
    assert.deepEqual(await messageTexts(page), ['hi from carol', 'away c1', 'away c2']);
    await openConversationWith(page, title);
    await waitForMessage(page, 'in the group');
    assert.equal((await messageTexts(page)).filter((t) => t === 'in the group').length, 1);
    assert.deepEqual(view.problems.filter((p) => !p.includes('WebSocket')), []);
  });

  test('a live event moves the saved cursor; a reconnect with nothing missed only syncs', async () => {
    const { page } = view;
    const key = cursorKey(proxy.url, alice.id);
    const saved = Number(await page.evaluate((k) => localStorage.getItem(k), key));
    await openConversationWith(page, bob.username);
    const live = await sayFrame(bobClient, direct, 'live one');
    await waitForMessage(page, 'live one');
    assert.ok(live.seq > saved);
    await page.waitForFunction(([k, s]) => Number(localStorage.getItem(k)) >= s, [key, live.seq]);

    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    const cursor = Number(await page.evaluate((k) => localStorage.getItem(k), key));
    const since = sent.frames.length;
    proxy.restore();
    await waitConnected(page);
    const sync = await sentFrom(sent, since, (f) => f.type === 'chat.sync');
    assert.equal(sync.since, cursor);
    assert.equal(sent.frames.slice(since).filter((f) => f.type === 'chat.get_conversations').length, 0);
    await bobClient.say(direct, 'after the resume');
    await waitForMessage(page, 'after the resume');
    const texts = await messageTexts(page);
    assert.equal(new Set(texts).size, texts.length, `duplicates: ${texts}`);
  });
});
