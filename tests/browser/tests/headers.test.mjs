// The page's response headers: a Content-Security-Policy that keeps it to its own origin, and the
// other usual protections; each asset with its own content type; the socket's Origin check.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { BASE_URL, registerAndLogin, uniqueName } from '../lib/harness.mjs';

const host = new URL(BASE_URL).host;

function directives(csp) {
  const map = new Map();
  for (const part of csp.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name, values);
  }
  return map;
}

test('the page is served with a same-origin Content-Security-Policy', async () => {
  const response = await fetch(`${BASE_URL}/`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
  const csp = response.headers.get('content-security-policy');
  assert.ok(csp, 'no Content-Security-Policy header');
  const d = directives(csp);
  assert.deepEqual(d.get('default-src'), ["'none'"]);
  assert.deepEqual(d.get('script-src'), ["'self'"]);
  assert.deepEqual(d.get('style-src'), ["'self'"]);
  assert.deepEqual(d.get('connect-src'), ["'self'", `ws://${host}`, `wss://${host}`]);
  assert.deepEqual(d.get('frame-ancestors'), ["'none'"]);
  assert.deepEqual(d.get('base-uri'), ["'none'"]);
  for (const [name, values] of d) {
    for (const v of values) {
      assert.ok(!v.includes('*') && v !== "'unsafe-inline'" && v !== "'unsafe-eval'", `${name} allows ${v}`);
    }
  }
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(response.headers.get('x-frame-options'), 'DENY');
  const html = await response.text();
  assert.match(html, /<script src="\/app\.js" defer><\/script>/);
});

test('script, stylesheet and icon have their content types and the same protections', async () => {
  for (const [route, type] of [
    ['/app.js', 'text/javascript; charset=utf-8'],
    ['/style.css', 'text/css; charset=utf-8'],
    ['/favicon.svg', 'image/svg+xml'],
  ]) {
    const response = await fetch(`${BASE_URL}${route}`);
    assert.equal(response.status, 200, route);
    assert.equal(response.headers.get('content-type'), type, route);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', route);
    assert.ok(response.headers.get('content-security-policy')?.includes("default-src 'none'"), route);
    assert.ok((await response.text()).length > 0, route);
  }
});

/** Opens the chat socket with `origin` and a valid token: 'open', or the HTTP status refused with. */
function tryOrigin(access, origin) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${BASE_URL.replace(/^http/, 'ws')}/ws/chat/?token=${encodeURIComponent(access)}`, {
      origin,
    });
    const timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000);
    ws.on('open', () => {
      clearTimeout(timer);
      ws.close(1000);
      resolve('open');
    });
    ws.on('unexpected-response', (req, res) => {
      clearTimeout(timer);
      resolve(res.statusCode);
      req.destroy(); // with this listener set, ending the refused request is ours to do
    });
    ws.on('error', () => {});
  });
}

test('the chat socket accepts the page\'s own origin and refuses another site', async () => {
  const user = await registerAndLogin(uniqueName('origin'));
  assert.equal(await tryOrigin(user.access, BASE_URL), 'open');
  assert.equal(await tryOrigin(user.access, 'http://evil.example'), 403);
  assert.equal(await tryOrigin(user.access, `${BASE_URL}.evil.example`), 403);
});
