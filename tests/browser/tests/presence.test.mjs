// Presence: alice's page shows whether bob is online (a dot in the list, "online" or "last seen …"
// in the header); his page opening while hers is cut off reaches it by the sync; a group's header says how many are online; once
// bob hides his presence (his page says "hidden", also after a reload) alice's shows nothing until
// he shows it again; when he closes his page alice's says "last seen", and reads it again as time
// passes without asking the server. run.sh starts the server with a short --presence-grace, so a
// closed page reads offline within a second.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ChatClient,
  CuttableProxy,
  PASSWORD,
  launchBrowser,
  loginInPage,
  openPage,
  registerAndLogin,
  screenshotPath,
  uniqueName,
  waitConnected,
} from '../lib/harness.mjs';
import { openConversationWith, recordSentFrames } from '../lib/page.mjs';

// Long enough for a server of one's own with the default grace of 5 s (CHAT_URL).
const OFFLINE_WITHIN = 15_000;

/** The presence dot before `name` in the list: {status, label, title}, or null when none. */
function dotFor(page, name) {
  return page.evaluate((n) => {
    const item = [...document.querySelectorAll('.conversation-item')].find(
      (el) => el.querySelector('.conversation-name').firstChild.textContent === n,
    );
    const dot = item && item.querySelector('.presence-dot');
    return dot ? { status: dot.dataset.status, label: dot.getAttribute('aria-label'), title: dot.title } : null;
  }, name);
}

async function waitDot(page, name, status, timeout = OFFLINE_WITHIN) {
  await page.waitForFunction(
    ([n, s]) => {
      const item = [...document.querySelectorAll('.conversation-item')].find(
        (el) => el.querySelector('.conversation-name').firstChild.textContent === n,
      );
      const dot = item && item.querySelector('.presence-dot');
      return !!item && (s === null ? !dot : !!dot && dot.dataset.status === s);
    },
    [name, status],
    { timeout },
  );
}

/** The open conversation's presence line: {text, title}; text '' when hidden. */
function presenceLine(page) {
  return page.evaluate(() => {
    const line = document.getElementById('conversation-presence');
    return { text: line.hidden ? '' : line.textContent, title: line.title };
  });
}

async function waitPresenceLine(page, text, timeout = OFFLINE_WITHIN) {
  await page.waitForFunction(
    (t) => {
      const line = document.getElementById('conversation-presence');
      return (line.hidden ? '' : line.textContent) === t;
    },
    text,
    { timeout },
  );
}

describe('presence in the browser', () => {
  let browser;
  let alice; // {username, id, access} and, once open, the page: view
  let bob;
  let carol;
  let carolClient;
  let proxy; // between alice's page and the server
  let view; // alice's page
  let sent; // what alice's page sends
  let bobView; // bob's page, while open
  let bobSent; // what it sends
  const title = uniqueName('Presence');

  before(async () => {
    browser = await launchBrowser();
    alice = await registerAndLogin(uniqueName('alice'));
    bob = await registerAndLogin(uniqueName('bob'));
    carol = await registerAndLogin(uniqueName('carol'));
    // Bob starts the conversation and a group with both from a node client, then leaves.
    const bobClient = await ChatClient.connect(bob.access);
    const direct = await bobClient.startConversation(alice.id);
    await bobClient.say(direct, 'hi alice');
    bobClient.send({ type: 'chat.create_group', title, member_ids: [alice.id, carol.id] });
    await bobClient.next((f) => f.type === 'chat.conversation_started');
    await bobClient.close();

    view = await openPage(browser);
    // Alice's clock can be moved on: "last seen" must read again as minutes pass.
    await view.context.clock.install();
    sent = recordSentFrames(view.page);
    proxy = await CuttableProxy.start();
    await loginInPage(view.page, alice.username, PASSWORD, proxy.url);
  });

  after(async () => {
    await carolClient?.close();
    await bobView?.context.close();
    await view?.context.close();
    await proxy?.stop();
    await browser?.close();
  });

  test('bob offline: a hollow dot, "last seen" in the header with the full time in its title', async () => {
    const { page } = view;
    await waitDot(page, bob.username, 'offline');
    const dot = await dotFor(page, bob.username);
    assert.match(dot.label, /^offline, last seen just now$/);
    assert.match(dot.title, /^offline, last seen .*\d/);
    await openConversationWith(page, bob.username);
    await waitPresenceLine(page, 'last seen just now');
    const line = await presenceLine(page);
    assert.match(line.title, /^last seen \w+, .*\d{4}.*\d{1,2}:\d{2}/, `a full date and time: ${line.title}`);
    // A group has no dot of its own.
    assert.equal(await dotFor(page, title), null);
  });

  test('bob opens the page while alice is cut off: back, her page syncs and shows him online', async () => {
    const { page } = view;
    proxy.cut();
    await page.locator('#connection-status[data-state="disconnected"]').waitFor();
    bobView = await openPage(browser);
    bobSent = recordSentFrames(bobView.page);
    await loginInPage(bobView.page, bob.username);
    const from = sent.frames.length;
    proxy.restore();
    await waitConnected(page);
    await waitDot(page, bob.username, 'online');
    const asked = sent.frames.slice(from);
    assert.ok(asked.some((f) => f.type === 'chat.sync' && Number.isInteger(f.since)), 'a sync from the cursor');
    assert.ok(!asked.some((f) => f.type === 'chat.get_conversations'), 'not the list');
    assert.deepEqual(await dotFor(page, bob.username), { status: 'online', label: 'online', title: 'online' });
    await waitPresenceLine(page, 'online');
    // Bob's page sees alice online in turn.
    await waitDot(bobView.page, alice.username, 'online');
    await page.screenshot({ path: screenshotPath('presence-online') });
  });

  test('a group says how many others are online, and who in its title', async () => {
    const { page } = view;
    await openConversationWith(page, title);
    await waitPresenceLine(page, '1 online');
    assert.equal((await presenceLine(page)).title, bob.username);
    carolClient = await ChatClient.connect(carol.access);
    await waitPresenceLine(page, '2 online');
    assert.equal((await presenceLine(page)).title, [bob.username, carol.username].join(', '));
    await page.screenshot({ path: screenshotPath('presence-group') });
    await carolClient.close();
    carolClient = null;
    await waitPresenceLine(page, '1 online');
    await openConversationWith(page, bob.username);
  });

  test('bob hides his presence: alice sees no status; he shows it again: back', async () => {
    const { page } = view;
    await waitPresenceLine(page, 'online');

    const hide = bobView.page.getByRole('button', { name: 'Hide presence' });
    const asked = bobSent.next((f) => f.type === 'chat.set_presence');
    await hide.click();
    assert.deepEqual(await asked, { type: 'chat.set_presence', visible: false });
    await bobView.page.locator('#me-presence').waitFor({ state: 'visible' });
    assert.match(await bobView.page.locator('.me').textContent(), /hidden/);
    await bobView.page.getByRole('button', { name: 'Show presence' }).waitFor();
    await waitDot(page, bob.username, null);
    await waitPresenceLine(page, '');
    await bobView.page.screenshot({ path: screenshotPath('presence-hidden-bob') });

    // Still hidden after bob reloads (chat.welcome says presence_visible: false); alice's page,
    // reloaded too, finds no presence in the list either.
    await bobView.page.reload();
    await bobView.page.locator('#connection-status[data-state="connected"]').waitFor();
    await bobView.page.getByRole('button', { name: 'Show presence' }).waitFor();
    assert.ok(await bobView.page.locator('#me-presence').isVisible());
    await page.reload();
    await page.locator('#connection-status[data-state="connected"]').waitFor();
    await page.locator('.conversation-name', { hasText: bob.username }).waitFor();
    assert.equal(await dotFor(page, bob.username), null);
    await openConversationWith(page, bob.username);
    assert.equal((await presenceLine(page)).text, '');

    const show = bobSent.next((f) => f.type === 'chat.set_presence');
    await bobView.page.getByRole('button', { name: 'Show presence' }).click();
    assert.deepEqual(await show, { type: 'chat.set_presence', visible: true });
    await bobView.page.getByRole('button', { name: 'Hide presence' }).waitFor();
    assert.ok(await bobView.page.locator('#me-presence').isHidden());
    await waitDot(page, bob.username, 'online');
    await waitPresenceLine(page, 'online');

    assert.deepEqual(bobView.problems, []);
  });

  test('bob closes the page: alice sees "last seen" within seconds, read again as time passes', async () => {
    const { page } = view;
    await bobView.context.close();
    bobView = null;
    await waitDot(page, bob.username, 'offline');
    await waitPresenceLine(page, 'last seen just now');
    assert.equal((await dotFor(page, bob.username)).label, 'offline, last seen just now');

    // Five minutes later the page says so, without a frame or a request.
    const frames = sent.frames.length;
    const requests = view.urls.length;
    await page.clock.fastForward('05:00');
    await waitPresenceLine(page, 'last seen 5 min ago', 5_000);
    assert.equal((await dotFor(page, bob.username)).label, 'offline, last seen 5 min ago');
    await page.screenshot({ path: screenshotPath('presence-last-seen') });
    // Five minutes on, the access token is due for renewal (a refresh, then chat.auth): not a
    // question about time.
    const asked = sent.frames.slice(frames).filter((f) => f.type !== 'chat.auth');
    assert.deepEqual(asked, [], 'no frame sent to read the time again');
    const requested = view.urls.slice(requests).filter((u) => !u.endsWith('/api/token/refresh/'));
    assert.deepEqual(requested, [], 'no request either');
    assert.deepEqual(view.problems.filter((p) => !p.includes('WebSocket')), [], 'none but the cut connection');
  });
});
