// Gapless resume: alice's page (through the cuttable proxy) is cut off while bob and carol, as
// node clients, write in two conversations, edit, react, read and create a group with her; when
// the connection is back the page asks for what it missed with `chat.sync` from its cursor (no
// list or history reload) and shows each event once; the cursor is kept in localStorage and a
// reload syncs from it and shows the same.
// On a server of its own that keeps events 1 s, a page away longer (or with a saved cursor
// older) gets `chat.resync_required` and loads the list and the open conversation again. On a
// server of its own linked to a private Redis through a cuttable proxy, the link's return brings
// `chat.sync_hint`, and the page syncs from it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  BASE_URL,
  ChatClient,
  CuttableProxy,
  NO_SERVER_BIN,
  PASSWORD,
  freePort,
  launchBrowser,
  openPage,
  registerAndLogin,
  registerInPage,
  startServer,
  uniqueName,
  waitConnected,
} from '../lib/harness.mjs';
import {
  messageTexts,
  openConversationWith,
  recordReceivedFrames,
  recordSentFrames,
  waitForMessage,
  waitForReceipt,
} from '../lib/page.mjs';

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

/** The signed-in user's id, from the access token the page keeps. */
function pageUserId(page) {
  return page.evaluate(() => JSON.parse(atob(JSON.parse(localStorage.getItem('chat.tokens')).access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).user_id);
}

function savedCursor(page, key) {
  return page.evaluate((k) => Number(localStorage.getItem(k)), key);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Alice's page, through a cuttable proxy in front of the server at `url`, recording what it sends
 * and receives; bob and carol as node clients, each in a conversation with her where they said
 * `bobSays` and `carolSays`; bob's conversation open on her page, carol's counted unread.
 * `close()` ends them all.
 */
async function aliceWithBobAndCarol(url, bobSays, carolSays) {
  const browser = await launchBrowser();
  const proxy = await CuttableProxy.start(url);
  const alice = { username: uniqueName('alice') };
  const bob = await registerAndLogin(uniqueName('bob'), PASSWORD, url);
  const carol = await registerAndLogin(uniqueName('carol'), PASSWORD, url);
  const view = await openPage(browser);
  const sent = recordSentFrames(view.page);
  const received = recordReceivedFrames(view.page);
  await registerInPage(view.page, alice.username, PASSWORD, proxy.url);
  alice.id = await pageUserId(view.page);
  const bobClient = await ChatClient.connect(bob.access, url);
  const carolClient = await ChatClient.connect(carol.access, url);
  const direct = await bobClient.startConversation(alice.id);
  const other = await carolClient.startConversation(alice.id);
  const bobsFirst = await bobClient.say(direct, bobSays);
  await carolClient.say(other, carolSays);
  await openConversationWith(view.page, bob.username);
  await waitForMessage(view.page, bobSays);
  await waitBadge(view.page, carol.username, '1');
  const close = async () => {
    await bobClient.close();
    await carolClient.close();
    await view.context.close();
    await proxy.stop();
    await browser.close();
  };
  return { proxy, view, sent, received, alice, bob, carol, bobClient, carolClient, direct, other, bobsFirst, close };
}

describe('resuming after a dropped connection', () => {
  let close;
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
    ({ proxy, view, sent, alice, bob, carol, bobClient, carolClient, direct, other, bobsFirst, close } =
      await aliceWithBobAndCarol(BASE_URL, 'hello alice', 'hi from carol'));
    await view.page.locator('#composer-input').fill('alice says hi');
    await view.page.locator('#composer-input').press('Enter');
    mine = (await bobClient.next((f) => f.type === 'chat.message' && f.message.content === 'alice says hi')).message;
    // The page has its cursor once its first sync is answered.
    await view.page.waitForFunction((key) => localStorage.getItem(key) !== null, cursorKey(proxy.url, alice.id));
  });

  after(async () => {
    await close?.();
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

describe('a cursor older than the events the server keeps', { skip: NO_SERVER_BIN ?? false }, () => {
  const RETENTION_MS = 1000;
  let server;
  let close;
  let proxy;
  let view;
  let sent;
  let received;
  let alice;
  let bob;
  let carol;
  let bobClient;
  let carolClient;
  let direct; // bob and alice
  let other; // carol and alice
  let first; // bob's first message, edited while alice is away
  let key;

  before(async () => {
    server = await startServer(['--sync-retention', `${RETENTION_MS}ms`]);
    ({ proxy, view, sent, received, alice, bob, carol, bobClient, carolClient, direct, other, bobsFirst: first, close } =
      await aliceWithBobAndCarol(server.url, 'before 1', 'carol before'));
    key = cursorKey(proxy.url, alice.id);
    await view.page.waitForFunction((k) => localStorage.getItem(k) !== null, key);
  });

  after(async () => {
    await close?.();
    await server?.stop();
  });

  test('away longer than that: the page loads the list and the open conversation again, each message once', async () => {
    const { page } = view;
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    const cursorBefore = await savedCursor(page, key);
    bobClient.send({ type: 'chat.edit', message_id: first.id, content: 'before 1, edited' });
    await bobClient.next((f) => f.type === 'chat.message_updated' && f.message.id === first.id);
    for (const text of ['away 1', 'away 2', 'away 3']) await bobClient.say(direct, text);
    await carolClient.say(other, 'carol away');
    // What happened while alice was away must be older than the server keeps: time passing is
    // the condition under test here.
    await sleep(RETENTION_MS + 500);

    const sentFrom = sent.frames.length;
    const resyncSeen = received.next((f) => f.type === 'chat.resync_required', 40_000);
    proxy.restore();
    await waitConnected(page);
    const resync = await resyncSeen;
    await waitForMessage(page, 'away 3');
    await waitBadge(page, carol.username, '2');

    const asked = sent.frames.slice(sentFrom);
    const syncAt = asked.findIndex((f) => f.type === 'chat.sync');
    assert.equal(asked[syncAt].since, cursorBefore, 'from the cursor it had');
    const after = asked.slice(syncAt + 1);
    assert.ok(after.some((f) => f.type === 'chat.get_conversations'), `the list again: ${JSON.stringify(asked)}`);
    assert.ok(after.some((f) => f.type === 'chat.get_messages' && f.conversation_id === direct && f.before_id === undefined), 'the open conversation again');

    await page.waitForFunction(() => document.querySelector('#message-list .edited') !== null);
    const shown = await shownMessages(page);
    assert.deepEqual(shown.map((m) => m.text), ['before 1, edited', 'away 1', 'away 2', 'away 3']);
    assert.equal(new Set(shown.map((m) => m.id)).size, shown.length, 'no message element twice');
    assert.equal(await badgeOf(page, bob.username), '', 'the open conversation counts nothing unread');
    assert.equal(await savedCursor(page, key), resync.seq, "the cursor is the resync's seq");

    // From here on, live events move the cursor as before.
    const live = await sayFrame(bobClient, direct, 'after the resync');
    await waitForMessage(page, 'after the resync');
    await page.waitForFunction(([k, s]) => Number(localStorage.getItem(k)) >= s, [key, live.seq]);
    const texts = await messageTexts(page);
    assert.equal(new Set(texts).size, texts.length, `duplicates: ${texts}`);
  });

  test('a reload with a saved cursor older than that: the list again, then the sync from the new cursor', async () => {
    const { page } = view;
    await page.evaluate((k) => localStorage.setItem(k, '1'), key);
    await sleep(RETENTION_MS + 500); // every event so far is past the retention
    const sentFrom = sent.frames.length;
    const resyncSeen = received.next((f) => f.type === 'chat.resync_required', 20_000);
    await page.reload();
    await waitConnected(page);
    const resync = await resyncSeen;
    await page.waitForFunction(([k, s]) => Number(localStorage.getItem(k)) >= s, [key, resync.seq]);
    await waitBadge(page, carol.username, '2');
    const asked = sent.frames.slice(sentFrom);
    const syncAt = asked.findIndex((f) => f.type === 'chat.sync');
    assert.equal(asked[syncAt].since, 1, 'from the saved cursor');
    assert.ok(asked.slice(syncAt + 1).some((f) => f.type === 'chat.get_conversations'), 'the list again');
    assert.equal(await page.locator('.conversation-item').count(), 2, 'each conversation once');

    await openConversationWith(page, bob.username);
    await waitForMessage(page, 'after the resync');
    assert.deepEqual(await messageTexts(page), ['before 1, edited', 'away 1', 'away 2', 'away 3', 'after the resync']);
    assert.deepEqual(view.problems.filter((p) => !p.includes('WebSocket')), []);
  });
});

/** Whether a Redis server can be started here (CI's machines have one; the test needs its own). */
const NO_REDIS = spawnSync('redis-server', ['--version']).status === 0 ? null : 'needs redis-server';

/** A private Redis on a free loopback port, for one test; `stop()` ends it. */
async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; i < 100; i += 1) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    await sleep(100);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('the server tells the page to sync when its link to Redis is back', { skip: NO_SERVER_BIN ?? NO_REDIS ?? false }, () => {
  let redis;
  let redisProxy; // between the server and Redis: cut, the server loses its link
  let server;
  let close;
  let proxy;
  let view;
  let sent;
  let received;
  let alice;
  let bobClient;
  let direct;

  before(async () => {
    redis = await startRedis();
    redisProxy = await CuttableProxy.start(redis.url);
    const redisUrl = redisProxy.url.replace(/^http/, 'redis');
    server = await startServer(['--redis-url', redisUrl, '--redis-prefix', uniqueName('hint')]);
    ({ proxy, view, sent, received, alice, bobClient, direct, close } =
      await aliceWithBobAndCarol(server.url, 'before the outage', 'carol was here'));
    await view.page.waitForFunction((k) => localStorage.getItem(k) !== null, cursorKey(proxy.url, alice.id));
  });

  after(async () => {
    await close?.();
    await server?.stop();
    await redisProxy?.stop();
    await redis?.stop();
  });

  test('chat.sync_hint: the page syncs from the smaller of its since and the cursor, and shows each message once', async () => {
    const { page } = view;
    const key = cursorKey(proxy.url, alice.id);
    redisProxy.cut();
    for (let i = 0; i < 100 && !server.log().includes('lost the Redis subscription'); i += 1) await sleep(100);
    assert.match(server.log(), /lost the Redis subscription/);
    await bobClient.say(direct, 'during the outage');
    await waitForMessage(page, 'during the outage');
    const cursor = await savedCursor(page, key);

    const sentFrom = sent.frames.length;
    const hinted = received.next((f) => f.type === 'chat.sync_hint', 20_000);
    const synced = sent.next((f) => f.type === 'chat.sync', 20_000);
    const done = received.next((f) => f.type === 'chat.synced' && f.has_more !== true, 20_000);
    redisProxy.restore();
    const hint = await hinted;
    assert.ok(Number.isInteger(hint.since), `a since: ${JSON.stringify(hint)}`);
    assert.equal((await synced).since, Math.min(hint.since, cursor));
    await done;
    assert.deepEqual(
      sent.frames.slice(sentFrom).filter((f) => f.type === 'chat.get_conversations' || f.type === 'chat.get_messages'),
      [],
      'a sync only',
    );
    // Replayed events are applied once: each message shown once.
    assert.deepEqual(await messageTexts(page), ['before the outage', 'during the outage']);
    await bobClient.say(direct, 'after the outage');
    await waitForMessage(page, 'after the outage');
    assert.deepEqual(await messageTexts(page), ['before the outage', 'during the outage', 'after the outage']);
    assert.deepEqual(view.problems, []);
  });
});
