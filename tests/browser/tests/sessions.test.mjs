// Sessions as the server keeps them (issue 17): the page renews its access token in band before
// it expires (two tabs of one session refreshing one at a time, rotation and all, with no reuse
// grace; on time whatever the browser's clock says), a password change made elsewhere sends it
// to the sign-in screen with a clear message, and its "Log out" ends the session on the server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ChatClient,
  NO_SERVER_BIN,
  PASSWORD,
  launchBrowser,
  loginInPage,
  openPage,
  registerAndLogin,
  registerInPage,
  rest,
  startServer,
  uniqueName,
  waitConnected,
} from '../lib/harness.mjs';
import { openConversationWith, recordReceivedFrames, recordSentFrames, waitForMessage } from '../lib/page.mjs';

const ENDED = 'Your session was ended (signed out elsewhere or password changed). Please sign in again.';
const LIFETIME_S = 5; // the short server's access-token lifetime

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/**
 * Records in the page every connection state the status line shows and whether the sign-in
 * screen ever appears, from now on: read back with `seen(page)`.
 */
async function watchInterruptions(page) {
  await page.evaluate(() => {
    window.__seen = { states: [], signIn: false };
    const status = document.getElementById('connection-status');
    const auth = document.getElementById('auth-view');
    new MutationObserver(() => {
      window.__seen.states.push(status.dataset.state);
      if (!auth.hidden) window.__seen.signIn = true;
    }).observe(document.body, { attributes: true, subtree: true, childList: true, characterData: true });
  });
}

function seen(page) {
  return page.evaluate(() => window.__seen);
}

/** Counts the WebSockets `page` opens from now on. */
function countSockets(page) {
  const opened = [];
  page.on('websocket', (ws) => opened.push(ws.url()));
  return opened;
}

async function send(page, text) {
  await page.locator('#composer-input').fill(text);
  await page.locator('#composer-input').press('Enter');
}

/**
 * An init script: the page's clock runs `offsetMs` ahead of the real one (behind when negative),
 * as a browser on a machine whose clock is off; timers are left alone.
 */
function skewClock(offsetMs) {
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offsetMs);
      else super(...args);
    }

    static now() {
      return RealDate.now() + offsetMs;
    }
  }
  globalThis.Date = SkewedDate;
}

/** The times (ms, node's clock) of the page's refresh requests from now on. */
function countRefreshes(page) {
  const at = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/token/refresh/') at.push(Date.now());
  });
  return at;
}

describe('renewing in band (--socket-expiry token)', { skip: NO_SERVER_BIN ?? false }, () => {
  let server;
  before(async () => {
    // Rotating, with no reuse grace: a refresh token presented twice, by two tabs racing or by
    // one reading storage that lags behind another's rotation, ends the whole session at once.
    server = await startServer([
      '--access-token-lifetime', `${LIFETIME_S}s`,
      '--socket-expiry', 'token',
      '--rotate-refresh-tokens', 'true',
      '--refresh-reuse-grace', '0s',
    ]);
  });
  after(async () => {
    await server?.stop();
  });

  test('two tabs and a peer stay connected past three access-token lifetimes', async () => {
    const alice = await registerAndLogin(uniqueName('ann'), PASSWORD, server.url);
    const bob = await registerAndLogin(uniqueName('ben'), PASSWORD, server.url);
    const setup = await ChatClient.connect(alice.access, server.url);
    await setup.startConversation(bob.id);
    await setup.close();

    const a = await openPage(browser);
    const b = await openPage(browser);
    try {
      const sockets1 = countSockets(a.page);
      const sent1 = recordSentFrames(a.page);
      const got1 = recordReceivedFrames(a.page);
      await loginInPage(a.page, alice.username, PASSWORD, server.url);
      // A second tab of the same session: same storage, same refresh token.
      const tab2 = await a.context.newPage();
      const sockets2 = countSockets(tab2);
      await tab2.goto(`${server.url}/`);
      await waitConnected(tab2);
      const socketsB = countSockets(b.page);
      await loginInPage(b.page, bob.username, PASSWORD, server.url);
      const pages = [a.page, tab2, b.page];
      for (const p of pages) await watchInterruptions(p);

      await new Promise((resolve) => setTimeout(resolve, (3 * LIFETIME_S + 1.5) * 1000));

      await openConversationWith(a.page, bob.username);
      await openConversationWith(b.page, alice.username);
      await openConversationWith(tab2, bob.username);
      await send(a.page, 'still here after three lifetimes');
      await waitForMessage(b.page, 'still here after three lifetimes');
      await send(b.page, 'so am I');
      await waitForMessage(a.page, 'so am I');
      await waitForMessage(tab2, 'so am I');

      for (const p of pages) {
        const { states, signIn } = await seen(p);
        assert.equal(signIn, false, 'the sign-in screen never showed');
        assert.deepEqual(states.filter((s) => s !== 'connected'), [], 'the connection never looked interrupted');
      }
      assert.equal(sockets1.length, 1, 'the first tab kept its one socket');
      assert.equal(sockets2.length, 1, 'the second tab kept its one socket');
      assert.equal(socketsB.length, 1, "the peer's page kept its one socket");
      const auths = sent1.frames.filter((f) => f.type === 'chat.auth');
      assert.ok(auths.length >= 3, `the first tab renewed in band (${auths.length} chat.auth)`);
      assert.ok(got1.frames.filter((f) => f.type === 'chat.auth_ok').length >= 3, 'each renewal was accepted');
      assert.ok(!got1.frames.some((f) => f.type === 'chat.error'), JSON.stringify(got1.frames.filter((f) => f.type === 'chat.error')));
      // The tokens in storage were rotated, and still work.
      const stored = await a.page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
      assert.notEqual(stored.refresh, alice.refresh);
      assert.deepEqual([...a.problems, ...b.problems], []);
    } finally {
      await a.context.close();
      await b.context.close();
    }
  });

  // The page times renewals from the tokens' arrival, by its own clock: a clock an hour ahead
  // used to renew in a tight loop (every token looked expired), one an hour behind not at all
  // (the server closed the socket at `exp`, and the page reconnected).
  for (const skewH of [1, -1]) {
    test(`a page whose clock is an hour ${skewH > 0 ? 'ahead' : 'behind'} renews on time, and only then`, async (t) => {
      const alice = await registerAndLogin(uniqueName('sku'), PASSWORD, server.url);
      const bob = await registerAndLogin(uniqueName('skb'), PASSWORD, server.url);
      // Bob's node client never renews: it would be closed at its token's `exp`.
      const bobClient = await ChatClient.connect(bob.access, server.url);
      await bobClient.startConversation(alice.id);
      await bobClient.close();
      const { context, page, problems } = await openPage(browser);
      try {
        await context.addInitScript(skewClock, skewH * 3600_000);
        const sockets = countSockets(page);
        const sent = recordSentFrames(page);
        const got = recordReceivedFrames(page);
        const refreshes = countRefreshes(page);
        await loginInPage(page, alice.username, PASSWORD, server.url);
        const offset = (await page.evaluate(() => Date.now())) - Date.now();
        assert.ok(Math.abs(offset - skewH * 3600_000) < 5000, `the page's clock is off by ${offset} ms`);
        await watchInterruptions(page);
        const started = Date.now();

        await new Promise((resolve) => setTimeout(resolve, (3 * LIFETIME_S + 1.5) * 1000));

        const elapsedS = (Date.now() - started) / 1000;
        await openConversationWith(page, bob.username);
        // The server's echo is its acknowledgement: the socket still works.
        await send(page, 'on time whatever my clock says');
        await waitForMessage(page, 'on time whatever my clock says');
        const { states, signIn } = await seen(page);
        assert.equal(signIn, false, 'the sign-in screen never showed');
        assert.deepEqual(states.filter((s) => s !== 'connected'), [], 'the connection never looked interrupted');
        assert.equal(sockets.length, 1, 'the page kept its one socket');
        const auths = sent.frames.filter((f) => f.type === 'chat.auth').length;
        // 80% of a 5 s lifetime, less a second for `iat`'s rounding: one renewal every 3 s; the
        // page's floor is one every 2 s.
        const most = Math.floor(elapsedS / 2) + 1;
        assert.ok(auths >= 3 && auths <= most, `${auths} chat.auth in ${elapsedS} s (3 to ${most} expected)`);
        assert.equal(got.frames.filter((f) => f.type === 'chat.auth_ok').length, auths, 'each renewal was accepted');
        assert.ok(!got.frames.some((f) => f.type === 'chat.error'), JSON.stringify(got.frames.filter((f) => f.type === 'chat.error')));
        // One refresh per renewal (the login's tokens are fresh).
        assert.ok(refreshes.length <= auths + 1, `${refreshes.length} refreshes for ${auths} renewals`);
        t.diagnostic(`${auths} chat.auth and ${refreshes.length} refreshes in ${elapsedS} s`);
        assert.deepEqual(problems, []);
      } finally {
        await context.close();
      }
    });
  }
});

describe('sessions ended on the server', () => {
  test('a password change made elsewhere sends the page to the sign-in screen', async () => {
    const name = uniqueName('pat');
    const { page, context } = await openPage(browser);
    try {
      await registerInPage(page, name);
      // Another session of the same user, as another device would have.
      const other = await rest('POST', '/api/token/', { username: name, password: PASSWORD });
      assert.equal(other.status, 200);
      const changed = await rest(
        'POST',
        '/api/password/',
        { old_password: PASSWORD, new_password: 'another-horse-battery' },
        other.data.access,
      );
      assert.equal(changed.status, 200, changed.text);
      await page.locator('#auth-view').waitFor({ state: 'visible', timeout: 10_000 });
      await page.locator('#auth-notice', { hasText: ENDED }).waitFor();
      assert.equal(await page.evaluate(() => localStorage.getItem('chat.tokens')), null);
    } finally {
      await context.close();
    }
  });

  // Each button, and which sessions the server must refuse afterwards.
  const logouts = [
    { button: 'Log out', notice: 'You are logged out.', endsOthers: false },
    { button: 'Log out everywhere', notice: 'You are logged out on every device.', endsOthers: true },
  ];
  for (const { button, notice, endsOthers } of logouts) {
    test(`"${button}" ends ${endsOthers ? 'every session' : 'this session only'} on the server`, async () => {
      const name = uniqueName('lou');
      const { page, context } = await openPage(browser);
      try {
        await registerInPage(page, name);
        const own = await page.evaluate(() => JSON.parse(localStorage.getItem('chat.tokens')));
        const other = await rest('POST', '/api/token/', { username: name, password: PASSWORD });
        await page.getByRole('button', { name: button, exact: true }).click();
        await page.locator('#auth-notice', { hasText: notice }).waitFor();
        assert.equal(await page.evaluate(() => localStorage.getItem('chat.tokens')), null);
        const ownRefresh = await rest('POST', '/api/token/refresh/', { refresh: own.refresh });
        assert.equal(ownRefresh.status, 401, ownRefresh.text);
        const otherRefresh = await rest('POST', '/api/token/refresh/', { refresh: other.data.refresh });
        assert.equal(otherRefresh.status, endsOthers ? 401 : 200, otherRefresh.text);
      } finally {
        await context.close();
      }
    });
  }
});

