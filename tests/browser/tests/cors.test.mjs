// CORS: a page served from another origin (a port of its own) registers, logs in and chats with
// the server through `fetch` and `new WebSocket`, as a web app hosted elsewhere does, once the
// server lists its origin in `--allowed-origins`; without it, the browser keeps the answers from
// the page.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  BASE_URL,
  ChatClient,
  NO_SERVER_BIN,
  PASSWORD,
  launchBrowser,
  openPage,
  registerAndLogin,
  startServer,
  uniqueName,
} from '../lib/harness.mjs';

/**
 * The other origin's page. Its script reads the server's address, the peer's id and the name to
 * register from the query, then registers, logs in, asks who it is (a request with
 * `Authorization`, so preflighted), opens the socket, starts the conversation with the peer and
 * sends a message; `#result` ends with `data-state` `done` (the echoed message as JSON) or
 * `failed` (why).
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Another origin</title></head>
<body><p id="result">working</p>
<script type="module">
const query = new URLSearchParams(location.search);
const api = query.get('api');
const name = query.get('name');
const password = ${JSON.stringify(PASSWORD)};
const result = document.getElementById('result');

async function call(method, path, body, access) {
  const headers = { 'Content-Type': 'application/json' };
  if (access) headers.Authorization = 'Bearer ' + access;
  const response = await fetch(api + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(path + ': ' + response.status + ' ' + JSON.stringify(data));
  return data;
}

function chat(access, peer, content) {
  const ws = new WebSocket(api.replace(/^http/, 'ws') + '/ws/chat/?token=' + encodeURIComponent(access));
  return new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error('the socket failed'));
    ws.onclose = (e) => reject(new Error('the socket closed: ' + e.code));
    ws.onopen = () => ws.send(JSON.stringify({ type: 'chat.start_conversation', receiver_id: peer }));
    ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === 'chat.conversation_started') {
        const conversation_id = frame.conversation.id;
        ws.send(JSON.stringify({ type: 'chat.message', conversation_id, content }));
      } else if (frame.type === 'chat.message' && frame.message.content === content) {
        ws.onclose = null;
        ws.close(1000);
        resolve(frame.message);
      } else if (frame.type === 'chat.error') {
        reject(new Error(JSON.stringify(frame)));
      }
    };
  });
}

try {
  const user = await call('POST', '/api/register/', { username: name, password });
  const tokens = await call('POST', '/api/token/', { username: name, password });
  const me = await call('GET', '/api/me/', undefined, tokens.access);
  if (me.id !== user.id) throw new Error('/api/me/ named ' + JSON.stringify(me));
  const message = await chat(tokens.access, Number(query.get('peer')), 'hello from ' + location.origin);
  result.textContent = JSON.stringify(message);
  result.dataset.state = 'done';
} catch (e) {
  result.textContent = String(e);
  result.dataset.state = 'failed';
}
</script></body></html>`;

/** A static server for the page on a port of its own: another origin than the chat server's. */
async function servePage() {
  const server = http.createServer((request, response) => {
    if (new URL(request.url, 'http://page').pathname !== '/') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Opens the page against the chat server at `api`; its `#result` once settled. */
async function runPage(browser, page, api, peer, name) {
  const { page: tab, context, problems } = await openPage(browser);
  try {
    const query = new URLSearchParams({ api, peer: String(peer), name });
    await tab.goto(`${page.origin}/?${query}`);
    const result = tab.locator('#result[data-state]');
    await result.waitFor({ state: 'attached', timeout: 20_000 });
    return { state: await result.getAttribute('data-state'), text: await result.textContent(), problems };
  } finally {
    await context.close();
  }
}

describe('a page from another origin', { skip: NO_SERVER_BIN ?? false }, () => {
  let browser;
  let page;
  let server;
  before(async () => {
    browser = await launchBrowser();
    page = await servePage();
    server = await startServer(['--allowed-origins', page.origin]);
  });
  after(async () => {
    await browser?.close();
    await page?.stop();
    await server?.stop();
  });

  test('registers, logs in and chats through CORS when its origin is allowed', async () => {
    const bob = await registerAndLogin(uniqueName('bob'), PASSWORD, server.url);
    const bobSocket = await ChatClient.connect(bob.access, server.url);
    try {
      const name = uniqueName('alice');
      const outcome = await runPage(browser, page, server.url, bob.id, name);
      assert.equal(outcome.state, 'done', outcome.text);
      assert.deepEqual(outcome.problems, []);
      const echoed = JSON.parse(outcome.text);
      assert.equal(echoed.content, `hello from ${page.origin}`);
      assert.equal(echoed.sender.username, name);
      // The peer, a client of the server's own, gets it as from the page's user.
      const received = await bobSocket.next(
        (f) => f.type === 'chat.message' && f.message.content === `hello from ${page.origin}`,
      );
      assert.equal(received.message.sender.username, name);
    } finally {
      await bobSocket.close();
    }
  });

  test('gets no answer it can read from a server that does not list its origin', async () => {
    // The shared server runs without --allowed-origins.
    const bob = await registerAndLogin(uniqueName('bob'));
    const name = uniqueName('alice');
    const outcome = await runPage(browser, page, BASE_URL, bob.id, name);
    assert.equal(outcome.state, 'failed');
    assert.match(outcome.text, /TypeError/, outcome.text);
    assert.ok(
      outcome.problems.some((p) => /CORS|Access-Control-Allow-Origin/.test(p)),
      JSON.stringify(outcome.problems),
    );
  });
});
