// The life of a message between two people in two browser contexts: replies, edits, deletes and
// reactions, seen on both sides and in history; and a send retried across a cut connection,
// stored and shown exactly once whether or not it had reached the server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ChatClient,
  CuttableProxy,
  PASSWORD,
  launchBrowser,
  loginInPage,
  openPage,
  publishScreenshot,
  registerAndLogin,
  screenshotPath,
  uniqueName,
  waitConnected,
} from '../lib/harness.mjs';
import { messageTexts, openConversationWith, recordSentFrames, waitForMessage } from '../lib/page.mjs';

/** The message element whose text is `text` (a deleted one reads "message deleted"). */
function messageItem(page, text) {
  return page.locator('#message-list > .message', {
    has: page.locator(':scope > .content', { hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }),
  });
}

function messageById(page, id) {
  return page.locator(`#message-list > .message[data-message-id="${id}"]`);
}

/** How many times `text` is shown in the open conversation. */
async function countShown(page, text) {
  return (await messageTexts(page)).filter((t) => t === text).length;
}

/** The chips under a message: [{emoji, count, pressed, title}]. */
function chipsOf(page, id) {
  return messageById(page, id).locator('.reaction').evaluateAll((els) =>
    els.map((el) => ({
      emoji: el.querySelector('.reaction-emoji').textContent,
      count: Number(el.querySelector('.reaction-count').textContent),
      pressed: el.getAttribute('aria-pressed') === 'true',
      title: el.title,
    })),
  );
}

async function waitChips(page, id, want) {
  await page.waitForFunction(
    ([mid, expected]) => {
      const li = document.querySelector(`#message-list > .message[data-message-id="${mid}"]`);
      const got = li
        ? [...li.querySelectorAll('.reaction')].map((el) => `${el.querySelector('.reaction-emoji').textContent} ${el.querySelector('.reaction-count').textContent}`)
        : null;
      return JSON.stringify(got) === JSON.stringify(expected);
    },
    [id, want],
  );
}

describe('the life of a message', () => {
  let browser;
  let proxy;
  let aliceUser;
  let bobUser;
  let alice;
  let bob;
  let aliceSent;
  let observer; // bob's node client: what the server sends and stores
  let conversationId;
  const ids = {};

  before(async () => {
    browser = await launchBrowser();
    proxy = await CuttableProxy.start();
    aliceUser = await registerAndLogin(uniqueName('alice'));
    bobUser = await registerAndLogin(uniqueName('bob'));
    observer = await ChatClient.connect(bobUser.access);
    conversationId = await observer.startConversation(aliceUser.id);
    ids.first = (await observer.say(conversationId, 'first from bob')).id;
    alice = await openPage(browser);
    bob = await openPage(browser);
    aliceSent = recordSentFrames(alice.page);
    // Alice's page goes through the proxy, so that the tests can cut or hold her connection.
    await loginInPage(alice.page, aliceUser.username, PASSWORD, proxy.url);
    await loginInPage(bob.page, bobUser.username);
  });

  after(async () => {
    await observer?.close();
    await browser?.close();
    await proxy?.stop();
  });

  test('both open the conversation', async () => {
    await openConversationWith(alice.page, bobUser.username);
    await openConversationWith(bob.page, aliceUser.username);
    await waitForMessage(alice.page, 'first from bob');
    await waitForMessage(bob.page, 'first from bob');
  });

  test('reply: the composer shows what it answers, Escape cancels, the quote shows on both sides', async () => {
    const { page } = alice;
    const original = messageById(page, ids.first);
    // From the keyboard: into the list, up to the message, R; Escape cancels.
    await page.locator('#message-scroller').focus();
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.messageId), String(ids.first));
    await page.keyboard.press('r');
    await page.locator('#composer-context', { hasText: `Replying to ${bobUser.username}: first from bob` }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
    await page.keyboard.press('Escape');
    await page.locator('#composer-context').waitFor({ state: 'hidden' });
    assert.ok(await page.isVisible('#conversation-title'), 'Escape did not leave the conversation');

    // With the mouse: hover, the reply button.
    await original.hover();
    await original.getByRole('button', { name: `Reply to message from ${bobUser.username}` }).click();
    await page.locator('#composer-context', { hasText: 'first from bob' }).waitFor();
    const sending = aliceSent.next((f) => f.type === 'chat.message' && f.content === 'a reply');
    await page.locator('#composer-input').fill('a reply');
    await page.locator('#composer-input').press('Enter');
    const frame = await sending;
    assert.equal(frame.reply_to, ids.first);
    assert.match(frame.client_id, /^[0-9a-f-]{36}$/);
    await page.locator('#composer-context').waitFor({ state: 'hidden' });
    const echoed = await observer.next((f) => f.type === 'chat.message' && f.message.content === 'a reply');
    ids.reply = echoed.message.id;
    assert.equal(echoed.message.client_id, frame.client_id);
    for (const p of [alice.page, bob.page]) {
      await waitForMessage(p, 'a reply');
      const quote = messageItem(p, 'a reply').locator('.quote');
      assert.equal(await quote.locator('.quote-excerpt').textContent(), 'first from bob');
    }
    assert.equal(await messageItem(bob.page, 'a reply').locator('.quote-sender').textContent(), 'You');
    assert.equal(await messageItem(alice.page, 'a reply').locator('.quote-sender').textContent(), bobUser.username);
    // Clicking the quote shows (and focuses) the original.
    await messageItem(bob.page, 'a reply').locator('.quote').click();
    assert.equal(await bob.page.evaluate(() => document.activeElement.dataset.messageId), String(ids.first));
  });

  test('edit: Up in the empty box edits the last own message; both see the new text and "(edited)"', async () => {
    const { page } = alice;
    await page.locator('#composer-input').focus();
    await page.keyboard.press('ArrowUp');
    await page.locator('#composer-context', { hasText: 'Editing your message' }).waitFor();
    assert.equal(await page.inputValue('#composer-input'), 'a reply');
    assert.equal(await page.textContent('#send-button'), 'Save');
    const editing = aliceSent.next((f) => f.type === 'chat.edit');
    await page.locator('#composer-input').fill('a reply, edited');
    await page.locator('#composer-input').press('Enter');
    assert.deepEqual(await editing, { type: 'chat.edit', message_id: ids.reply, content: 'a reply, edited' });
    assert.equal(await page.inputValue('#composer-input'), '', 'the box is given back empty');
    for (const p of [alice.page, bob.page]) {
      await waitForMessage(p, 'a reply, edited');
      await messageItem(p, 'a reply, edited').locator('.edited', { hasText: '(edited)' }).waitFor();
      assert.equal(await countShown(p, 'a reply'), 0);
    }
    // The list's preview follows (it is the newest message).
    await bob.page.locator('.conversation-item .preview', { hasText: 'a reply, edited' }).waitFor();
    // Bob cannot edit alice's message: his menu has no Edit, and no Delete.
    const theirs = messageById(bob.page, ids.reply);
    await theirs.hover();
    await theirs.getByRole('button', { name: `Actions for message from ${aliceUser.username}` }).click();
    const items = await bob.page.getByRole('menuitem').allTextContents();
    assert.deepEqual(items, ['ReplyR', 'React…+']);
    await bob.page.keyboard.press('Escape');
    await bob.page.getByRole('menu').waitFor({ state: 'detached' });
    // Escape leaves an edit, and the box as it was.
    await page.locator('#composer-input').press('ArrowUp');
    await page.locator('#composer-context', { hasText: 'Editing' }).waitFor();
    await page.locator('#composer-input').press('Escape');
    await page.locator('#composer-context').waitFor({ state: 'hidden' });
    assert.equal(await page.inputValue('#composer-input'), '');
  });

  test('delete: confirmed from the menu, both see "message deleted", and history keeps the tombstone', async () => {
    const { page } = alice;
    await page.locator('#composer-input').fill('to be deleted');
    await page.locator('#composer-input').press('Enter');
    const stored = await observer.next((f) => f.type === 'chat.message' && f.message.content === 'to be deleted');
    ids.deleted = stored.message.id;
    await waitForMessage(bob.page, 'to be deleted');
    const mine = messageById(page, ids.deleted);
    await mine.hover();
    await mine.getByRole('button', { name: 'Actions for your message' }).click();
    assert.deepEqual(await page.getByRole('menuitem').allTextContents(), ['ReplyR', 'React…+', 'EditE', 'Delete…D']);
    await page.getByRole('menuitem', { name: 'Delete…' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Delete this message for everyone?' });
    await confirm.waitFor();
    // Cancel first: nothing is sent.
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    assert.ok(!aliceSent.frames.some((f) => f.type === 'chat.delete'));
    await mine.hover();
    await mine.getByRole('button', { name: 'Actions for your message' }).click();
    await page.getByRole('menuitem', { name: 'Delete…' }).click();
    await confirm.getByRole('button', { name: 'Delete' }).click();
    for (const p of [alice.page, bob.page]) {
      await messageById(p, ids.deleted).locator('.content', { hasText: /^message deleted$/ }).waitFor();
      assert.ok(await messageById(p, ids.deleted).evaluate((el) => el.classList.contains('deleted')));
      assert.equal(await countShown(p, 'to be deleted'), 0);
    }
    await bob.page.locator('.conversation-item .preview', { hasText: /^message deleted$/ }).waitFor();
    const updated = await observer.next((f) => f.type === 'chat.message_updated' && f.message.id === ids.deleted);
    assert.equal(updated.message.deleted, true);

    // Bob deletes his own first message from the keyboard (D, then Enter on "Delete"): the reply
    // quoting it says so on both sides.
    await bob.page.locator('#message-scroller').focus();
    await bob.page.keyboard.press('Home');
    assert.equal(await bob.page.evaluate(() => document.activeElement.dataset.messageId), String(ids.first));
    await bob.page.keyboard.press('d');
    await bob.page.getByRole('alertdialog').waitFor();
    await bob.page.keyboard.press('Enter');
    for (const p of [alice.page, bob.page]) {
      await messageById(p, ids.first).locator('.content', { hasText: /^message deleted$/ }).waitFor();
      await messageById(p, ids.reply).locator('.quote-excerpt', { hasText: /^message deleted$/ }).waitFor();
    }

    // History, loaded afresh, keeps both tombstones in place.
    await bob.page.reload();
    await waitConnected(bob.page);
    await openConversationWith(bob.page, aliceUser.username);
    await waitForMessage(bob.page, 'a reply, edited');
    assert.deepEqual(await messageTexts(bob.page), ['message deleted', 'a reply, edited', 'message deleted']);
    await messageById(bob.page, ids.reply).locator('.quote-excerpt', { hasText: /^message deleted$/ }).waitFor();
    await messageById(bob.page, ids.reply).locator('.edited').waitFor();
    observer.send({ type: 'chat.get_messages', conversation_id: conversationId });
    const history = await observer.next((f) => f.type === 'chat.messages' && f.conversation_id === conversationId);
    const tomb = history.messages.find((m) => m.id === ids.deleted);
    assert.equal(tomb.deleted, true);
    assert.equal(tomb.content, '');
  });

  test('react: chips count both people, ours highlighted with names in the title; a chip toggles ours', async () => {
    const said = await observer.say(conversationId, 'react to me');
    ids.react = said.id;
    await waitForMessage(alice.page, 'react to me');
    await waitForMessage(bob.page, 'react to me');

    // Alice: the picker from the hover toolbar, 👍.
    const onAlice = messageById(alice.page, ids.react);
    await onAlice.hover();
    await onAlice.getByRole('button', { name: `React to message from ${bobUser.username}` }).click();
    await alice.page.getByRole('dialog', { name: 'React with' }).getByRole('button', { name: 'React with thumbs up' }).click();
    await waitChips(alice.page, ids.react, ['👍 1']);
    await waitChips(bob.page, ids.react, ['👍 1']);

    // Bob: + from the keyboard on his message, 👍 too, then 🦀 typed in.
    await bob.page.locator('#message-scroller').focus();
    await bob.page.keyboard.press('End');
    assert.equal(await bob.page.evaluate(() => document.activeElement.dataset.messageId), String(ids.react));
    await bob.page.keyboard.press('+');
    await bob.page.getByRole('button', { name: 'React with thumbs up' }).click();
    await waitChips(bob.page, ids.react, ['👍 2']);
    await messageById(bob.page, ids.react).focus();
    await bob.page.keyboard.press('+');
    const picker = bob.page.getByRole('dialog', { name: 'React with' });
    await picker.getByLabel('Other emoji').fill('two words');
    await picker.getByLabel('Other emoji').press('Enter');
    await picker.getByRole('alert').filter({ hasText: 'No spaces.' }).waitFor();
    await picker.getByLabel('Other emoji').fill('🦀');
    await picker.getByRole('button', { name: 'Add' }).click();
    await waitChips(alice.page, ids.react, ['👍 2', '🦀 1']);
    await waitChips(bob.page, ids.react, ['👍 2', '🦀 1']);
    const aliceChips = await chipsOf(alice.page, ids.react);
    assert.deepEqual(aliceChips.map((c) => c.pressed), [true, false]);
    assert.equal(aliceChips[0].title, `you, ${bobUser.username}`);
    assert.equal(aliceChips[1].title, bobUser.username);
    assert.deepEqual((await chipsOf(bob.page, ids.react)).map((c) => c.pressed), [true, true]);

    // Alice's chip takes hers back; 🦀 from alice's chip adds hers.
    await onAlice.locator('.reaction', { hasText: '👍' }).click();
    await waitChips(alice.page, ids.react, ['👍 1', '🦀 1']);
    await waitChips(bob.page, ids.react, ['👍 1', '🦀 1']);
    assert.deepEqual((await chipsOf(alice.page, ids.react)).map((c) => c.pressed), [false, false]);
    const toggles = aliceSent.frames.filter((f) => f.type === 'chat.react');
    assert.deepEqual(toggles.map((f) => [f.emoji, f.add]), [['👍', true], ['👍', false]]);
    await messageById(alice.page, ids.react).locator('.reaction', { hasText: '🦀' }).click();
    await waitChips(bob.page, ids.react, ['👍 1', '🦀 2']);
  });

  test('screenshots of a conversation with a reply, an edit, a delete and reactions', async () => {
    await alice.page.locator('#composer-input').fill('');
    await alice.page.mouse.move(0, 0);
    await alice.page.screenshot({ path: screenshotPath('lifecycle-alice') });
    publishScreenshot('lifecycle-alice', 'browser-lifecycle.png');
    await bob.page.mouse.move(0, 0);
    await bob.page.screenshot({ path: screenshotPath('lifecycle-bob') });
    const target = messageById(alice.page, ids.react);
    await target.hover();
    await target.getByRole('button', { name: `Actions for message from ${bobUser.username}` }).click();
    await alice.page.screenshot({ path: screenshotPath('lifecycle-menu') });
    await alice.page.keyboard.press('Escape');
    await target.hover();
    await target.getByRole('button', { name: `React to message from ${bobUser.username}` }).click();
    await alice.page.screenshot({ path: screenshotPath('lifecycle-picker') });
    await alice.page.keyboard.press('Escape');
    await alice.page.getByRole('dialog').waitFor({ state: 'detached' });
    await messageById(alice.page, ids.react).focus();
    await alice.page.keyboard.press('r');
    await alice.page.screenshot({ path: screenshotPath('lifecycle-replying') });
    await alice.page.locator('#composer-input').press('Escape');
  });

  test('on a touch screen the buttons are always shown and a long press opens the menu', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 740 }, hasTouch: true, isMobile: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    try {
      await loginInPage(page, bobUser.username);
      await openConversationWith(page, aliceUser.username);
      await waitForMessage(page, 'react to me');
      const target = messageById(page, ids.reply);
      assert.ok(await target.getByRole('button', { name: `Reply to message from ${aliceUser.username}` }).isVisible());
      await page.screenshot({ path: screenshotPath('lifecycle-phone') });
      // A long press on the message's text: a touch held until the menu opens.
      const box = await target.locator('.content').boundingBox();
      const cdp = await context.newCDPSession(page);
      const point = { x: box.x + 10, y: box.y + box.height / 2 };
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [point] });
      await page.getByRole('menu', { name: 'Message actions' }).waitFor();
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      await page.screenshot({ path: screenshotPath('lifecycle-phone-menu') });
      await page.getByRole('menuitem', { name: 'React…' }).tap();
      await page.getByRole('button', { name: 'React with party' }).tap();
      await waitChips(alice.page, ids.reply, ['🎉 1']);
      await waitChips(page, ids.reply, ['🎉 1']);
    } finally {
      await context.close();
    }
  });

  /** Counts the live `chat.message` frames with `content` that reach bob's node client. */
  function countFrames(content) {
    let n = 0;
    observer.ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'chat.message' && f.message.content === content) n += 1;
    });
    return () => n;
  }

  /** After the retry: exactly one copy on both pages, in history, and one frame to bob. */
  async function assertOnce(content, framesToBob) {
    await waitForMessage(alice.page, content);
    await waitForMessage(bob.page, content);
    // A message after it, from bob: once it is shown, anything about the first has come too.
    const marker = `after ${content}`;
    await observer.say(conversationId, marker);
    await waitForMessage(alice.page, marker);
    await waitForMessage(bob.page, marker);
    for (const p of [alice.page, bob.page]) assert.equal(await countShown(p, content), 1, `once on ${p === alice.page ? 'alice' : 'bob'}'s page`);
    assert.equal(await alice.page.locator('#pending-list > li').count(), 0, 'nothing left waiting');
    observer.send({ type: 'chat.get_messages', conversation_id: conversationId });
    const history = await observer.next((f) => f.type === 'chat.messages' && f.conversation_id === conversationId);
    assert.equal(history.messages.filter((m) => m.content === content).length, 1, 'stored once');
    assert.equal(framesToBob(), 1, 'delivered to bob once');
    // A reload (history only) shows it once too.
    await alice.page.reload();
    await waitConnected(alice.page);
    await openConversationWith(alice.page, bobUser.username);
    await waitForMessage(alice.page, marker);
    assert.equal(await countShown(alice.page, content), 1);
  }

  test('a send whose echo was lost is retried with the same client_id after reconnecting, and shown and stored once', async () => {
    const { page } = alice;
    const content = 'stored, echo lost';
    const framesToBob = countFrames(content);
    proxy.hold('down'); // alice's page hears nothing more from the server
    const first = aliceSent.next((f) => f.type === 'chat.message' && f.content === content);
    await page.locator('#composer-input').fill(content);
    await page.locator('#composer-input').press('Enter');
    const sent = await first;
    // The server stored it: bob got it.
    await waitForMessage(bob.page, content);
    // Alice's page shows it as waiting, not as a message.
    await page.locator('#pending-list > li', { hasText: content }).waitFor();
    assert.equal(await countShown(page, content), 0);
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    await page.locator('#pending-list > li', { hasText: 'will be sent when the connection is back' }).waitFor();
    const retry = aliceSent.next((f) => f.type === 'chat.message' && f.content === content, 60_000);
    proxy.restore();
    await waitConnected(page);
    assert.equal((await retry).client_id, sent.client_id, 'the same client_id');
    await assertOnce(content, framesToBob);
  });

  test('a send that never reached the server is sent again after reconnecting, and shown and stored once', async () => {
    const { page } = alice;
    const content = 'never reached the server';
    const framesToBob = countFrames(content);
    proxy.hold('up'); // what alice's page sends goes nowhere
    const first = aliceSent.next((f) => f.type === 'chat.message' && f.content === content);
    await page.locator('#composer-input').fill(content);
    await page.locator('#composer-input').press('Enter');
    const sent = await first;
    await page.locator('#pending-list > li', { hasText: content }).waitFor();
    // A message from bob reaches alice (the way down is open): nothing of hers reached him.
    await observer.say(conversationId, 'bob meanwhile');
    await waitForMessage(page, 'bob meanwhile');
    assert.equal(framesToBob(), 0);
    assert.equal(await countShown(bob.page, content), 0);
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    const retry = aliceSent.next((f) => f.type === 'chat.message' && f.content === content, 60_000);
    proxy.restore();
    await waitConnected(page);
    assert.equal((await retry).client_id, sent.client_id, 'the same client_id');
    await assertOnce(content, framesToBob);
    assert.deepEqual(
      alice.problems.filter((p) => !p.includes('WebSocket') && !p.includes('ERR_')),
      [],
      'no page error on alice\'s side',
    );
    assert.deepEqual(bob.problems, []);
  });
});
