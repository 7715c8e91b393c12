// A burst of incoming messages costs the reader a handful of receipts, not one per message:
// chat.read at most once a second for the open conversation, chat.delivered at most once a
// second per other conversation, for its newest message; and the last of the burst still ends
// up read (the sender gets "seen") and delivered.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ChatClient,
  launchBrowser,
  openPage,
  registerAndLogin,
  registerInPage,
  rest,
  uniqueName,
} from '../lib/harness.mjs';
import { openConversationWith, waitForMessage } from '../lib/page.mjs';

const BURST = 150;
// A sender's socket has its own frame limit (a burst of 100 by default): spread over several.
const PER_SOCKET = 50;

/** Every frame the page sends, parsed, with the time it went out. */
function recordWithTimes(page) {
  const sent = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (event) => {
      try {
        sent.push({ at: Date.now(), frame: JSON.parse(event.payload) });
      } catch (_) {
        /* not JSON: not ours to count */
      }
    });
  });
  return sent;
}

/**
 * Sends `count` messages from a new socket of `person` without waiting, then waits for their
 * echoes (the person's other sockets get them too: `tag` tells ours); the newest id.
 */
async function burst(person, conversationId, count, tag) {
  const client = await ChatClient.connect(person.access);
  const echoes = [];
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${tag}: ${echoes.length}/${count} echoes`)), 60_000);
    client.ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'chat.error') reject(new Error(`${tag}: ${JSON.stringify(f)}`));
      if (f.type === 'chat.message' && f.message.content.startsWith(`${tag} `)) echoes.push(f.message.id);
      if (echoes.length === count) {
        clearTimeout(timer);
        resolve(Math.max(...echoes));
      }
    });
  });
  for (let i = 0; i < count; i += 1) {
    client.send({ type: 'chat.message', conversation_id: conversationId, content: `${tag} ${i}` });
  }
  try {
    return await done;
  } finally {
    await client.close();
  }
}

/** `BURST` messages from `person` over sockets of `PER_SOCKET`, within one socket's own limits. */
async function bursts(person, conversationId, name) {
  const sends = [];
  for (let i = 0; i * PER_SOCKET < BURST; i += 1) {
    sends.push(burst(person, conversationId, Math.min(PER_SOCKET, BURST - i * PER_SOCKET), `${name}-${i}`));
  }
  return Math.max(...(await Promise.all(sends)));
}

describe('receipts during a burst of messages', () => {
  let browser;
  let alice;
  let sent;
  const aliceName = uniqueName('alice');
  let bob;
  let carol;
  let bobSocket;
  let carolSocket;
  let withBob;
  let withCarol;

  before(async () => {
    browser = await launchBrowser();
    alice = await openPage(browser);
    sent = recordWithTimes(alice.page);
    await registerInPage(alice.page, aliceName);
    const tokens = await alice.page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
    const aliceId = (await rest('GET', '/api/me/', undefined, tokens.access)).data.id;
    bob = await registerAndLogin(uniqueName('bob'));
    carol = await registerAndLogin(uniqueName('carol'));
    bobSocket = await ChatClient.connect(bob.access);
    carolSocket = await ChatClient.connect(carol.access);
    withBob = await bobSocket.startConversation(aliceId);
    withCarol = await carolSocket.startConversation(aliceId);
    await bobSocket.say(withBob, 'hello from bob');
    await carolSocket.say(withCarol, 'hello from carol');
  });

  after(async () => {
    await bobSocket?.close();
    await carolSocket?.close();
    await browser?.close();
  });

  test('a burst in the open conversation and in another costs a few receipts, and the last counts', async (t) => {
    const { page } = alice;
    await page.locator('.conversation-item', { hasText: bob.username }).waitFor();
    // Counted from before the conversation opens: the read sent on opening may be applied by the
    // server after part of the burst is stored (a read marks up to the newest message then), and
    // is then the one that makes bob's newest seen.
    const start = Date.now();
    const from = sent.length;
    await openConversationWith(page, bob.username);
    await waitForMessage(page, 'hello from bob');
    const [bobNewest, carolNewest] = await Promise.all([
      bursts(bob, withBob, 'bob'),
      bursts(carol, withCarol, 'carol'),
    ]);
    // Every one of bob's messages shows, the greeting included.
    await page.waitForFunction((n) => document.querySelectorAll('#message-list .message').length === n, BURST + 1, {
      timeout: 30_000,
    });
    // The sender learns that the newest message was seen, and the other one that it arrived.
    await bobSocket.next(
      (f) => f.type === 'chat.message_status' && f.message_id === bobNewest && f.status === 'seen',
      15_000,
    );
    await carolSocket.next(
      (f) => f.type === 'chat.message_status' && f.message_id === carolNewest && f.status === 'delivered',
      15_000,
    );
    const seconds = (Date.now() - start) / 1000;
    const frames = sent.slice(from);
    const reads = frames.filter((s) => s.frame.type === 'chat.read');
    const delivered = frames.filter((s) => s.frame.type === 'chat.delivered');
    t.diagnostic(`${2 * BURST} messages in ${seconds} s: ${reads.length} chat.read, ${delivered.length} chat.delivered`);
    // At most one of each kind per second that passed, plus the one at once.
    const allowed = Math.ceil(seconds) + 1;
    assert.ok(reads.length >= 1 && reads.length <= allowed, `${reads.length} chat.read in ${seconds} s`);
    assert.ok(delivered.length >= 1 && delivered.length <= allowed, `${delivered.length} chat.delivered in ${seconds} s`);
    for (const kind of [reads, delivered]) {
      for (let i = 1; i < kind.length; i += 1) {
        assert.ok(kind[i].at - kind[i - 1].at >= 950, `receipts ${kind[i].at - kind[i - 1].at} ms apart`);
      }
    }
    assert.ok(reads.every((s) => s.frame.conversation_id === withBob));
    assert.equal(delivered.at(-1).frame.message_id, carolNewest, 'the last chat.delivered is for the newest');
    // Carol's conversation shows every message as unread (the list is redrawn after the frame
    // that delivered the last one, so its badge is awaited, not read once).
    const badge = page.locator('.conversation-item', { hasText: carol.username }).locator('.unread');
    await page.waitForFunction(
      ([name, n]) =>
        [...document.querySelectorAll('.conversation-item')]
          .find((item) => item.textContent.includes(name))
          ?.querySelector('.unread')?.textContent === n,
      [carol.username, String(BURST + 1)],
      { timeout: 5_000 },
    ).catch(() => {});
    assert.equal(await badge.textContent(), String(BURST + 1));
    assert.deepEqual(alice.problems, []);
  });

  test('a steady stream for three seconds costs one chat.read a second, and the last is seen', async (t) => {
    const from = sent.length;
    const start = Date.now();
    const stream = await ChatClient.connect(bob.access);
    // 60 messages, one every 50 ms: the traffic, not a wait for anything.
    const ids = [];
    stream.ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'chat.message' && f.message.content.startsWith('stream ')) ids.push(f.message.id);
    });
    await new Promise((resolve) => {
      let i = 0;
      const timer = setInterval(() => {
        stream.send({ type: 'chat.message', conversation_id: withBob, content: `stream ${i}` });
        i += 1;
        if (i === 60) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
    });
    await waitForMessage(alice.page, 'stream 59');
    await stream.next((f) => f.type === 'chat.message' && f.message.content === 'stream 59');
    const newest = Math.max(...ids);
    await bobSocket.next(
      (f) => f.type === 'chat.message_status' && f.message_id === newest && f.status === 'seen',
      15_000,
    );
    const seconds = (Date.now() - start) / 1000;
    const reads = sent.slice(from).filter((s) => s.frame.type === 'chat.read');
    const gaps = reads.slice(1).map((s, i) => s.at - reads[i].at);
    t.diagnostic(`60 messages, seen after ${seconds} s: ${reads.length} chat.read, ${gaps.join(' / ')} ms apart`);
    // Several, each a second or more after the last, never one per message.
    assert.ok(reads.length >= 2 && reads.length <= Math.ceil(seconds) + 1, `${reads.length} chat.read in ${seconds} s`);
    for (const gap of gaps) assert.ok(gap >= 950, `chat.read ${gap} ms apart`);
    await stream.close();
    assert.deepEqual(alice.problems, []);
  });
});
