// Shared pieces of the browser tests: the server's address, another server with flags of its
// own, Debian's Chromium, a protocol client in node, and a TCP proxy that can cut the browser's
// connection.
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SCREENSHOT_DIR = path.resolve(here, '..', 'screenshots');

/** The server under test, e.g. `http://127.0.0.1:8123` (set by run.sh). */
export const BASE_URL = (() => {
  const url = process.env.CHAT_URL;
  if (!url) throw new Error('CHAT_URL is not set: run the tests through tests/browser/run.sh');
  return url.replace(/\/+$/, '');
})();

export const PASSWORD = 'correct-horse-battery';

/** A TCP port free on loopback now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Why a test that needs `startServer` cannot run here, or null when it can. */
export const NO_SERVER_BIN = process.env.CHAT_SERVER_BIN
  ? null
  : 'needs CHAT_SERVER_BIN, the server binary (run.sh sets it when it starts the server itself)';

/**
 * Another server, the binary run.sh started (`CHAT_SERVER_BIN`, with the same environment), on
 * a free loopback port with a database of its own and `flags` added: `{url, log(), stop()}`.
 * For a test that needs other settings than the shared server's.
 */
export async function startServer(flags = []) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-browser-'));
  const port = await freePort();
  const logPath = path.join(dir, 'server.log');
  const child = spawn(
    process.env.CHAT_SERVER_BIN,
    ['--bind', `127.0.0.1:${port}`, '--database-url', `sqlite://${dir}/chat.db`, ...flags],
    {
      env: { ...process.env, JWT_SECRET: `browser-tests-${process.pid}-${Date.now()}` },
      stdio: ['ignore', openSync(logPath, 'w'), openSync(logPath, 'a')],
    },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const log = () => readFileSync(logPath, 'utf8');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300; i += 1) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, log, stop };
    } catch (_) {
      /* not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const text = log();
  await stop();
  throw new Error(`the server with ${flags.join(' ')} did not start:\n${text}`);
}

/** A username no other test run on the same database has used. */
export function uniqueName(prefix) {
  return `${prefix}_${process.pid.toString(36)}${Math.random().toString(36).slice(2, 7)}`;
}

/** Debian's Chromium, headless. Playwright gives each launch a fresh temporary profile. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page in a fresh context that records what could go wrong unseen: uncaught errors, console
 * errors (a CSP violation is one) and every request, to check none leaves the origin.
 */
export async function openPage(browser, { viewport = { width: 1100, height: 720 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  const urls = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (ws) => urls.push(ws.url()));
  page.setDefaultTimeout(15_000);
  return { context, page, problems, urls };
}

export function screenshotPath(name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return path.join(SCREENSHOT_DIR, `${name}.png`);
}

/** With UPDATE_DOCS_SCREENSHOTS set, copies a screenshot taken by the tests into docs/. */
export function publishScreenshot(name, docsName) {
  if (!process.env.UPDATE_DOCS_SCREENSHOTS) return;
  copyFileSync(screenshotPath(name), path.resolve(here, '..', '..', '..', 'docs', docsName));
}

/** Registers through the page's form and waits for the chat view. */
export async function registerInPage(page, username, password = PASSWORD, url = BASE_URL) {
  await page.goto(`${url}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#chat-view').waitFor({ state: 'visible' });
  await waitConnected(page);
}

/** Logs in through the page's form and waits for the socket to be up. */
export async function loginInPage(page, username, password = PASSWORD, url = BASE_URL) {
  await page.goto(`${url}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await waitConnected(page);
}

/** Waits for the page's socket to be up (a reconnect may be a backoff of several seconds away). */
export async function waitConnected(page) {
  await page.locator('#connection-status[data-state="connected"]').waitFor({ state: 'attached', timeout: 40_000 });
}

/** Plain REST calls, as a non-browser client makes them (to the server at `url`). */
export async function rest(method, route, body, access, url = BASE_URL) {
  const headers = { 'Content-Type': 'application/json' };
  if (access) headers.Authorization = `Bearer ${access}`;
  const response = await fetch(`${url}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch (_) {
    /* keep null */
  }
  return { status: response.status, data, text };
}

export async function registerAndLogin(username, password = PASSWORD, url = BASE_URL) {
  const reg = await rest('POST', '/api/register/', { username, password }, undefined, url);
  if (reg.status !== 201) throw new Error(`register ${username}: ${reg.status} ${reg.text}`);
  const tok = await rest('POST', '/api/token/', { username, password }, undefined, url);
  if (tok.status !== 200) throw new Error(`login ${username}: ${tok.status} ${tok.text}`);
  return { id: reg.data.id, username, access: tok.data.access, refresh: tok.data.refresh };
}

/** A protocol client in node: what a terminal client does, without a terminal. */
export class ChatClient {
  static async connect(access, url = BASE_URL) {
    const client = new ChatClient(`${url.replace(/^http/, 'ws')}/ws/chat/?token=${encodeURIComponent(access)}`);
    await client.opened;
    return client;
  }

  constructor(url) {
    this.frames = [];
    this.waiters = [];
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve(code)));
    this.ws.on('message', (data) => {
      const frame = JSON.parse(String(data));
      this.frames.push(frame);
      if (this.frames.length > 1000) this.frames.shift();
      for (const w of [...this.waiters]) w(frame);
    });
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame (already received or to come) that `pred` accepts; fails after `ms`. */
  next(pred, ms = 10_000, { fromNow = false } = {}) {
    if (!fromNow) {
      const idx = this.frames.findIndex(pred);
      if (idx >= 0) return Promise.resolve(this.frames.splice(idx, 1)[0]);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${ms} ms; last frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, ms);
      const waiter = (frame) => {
        if (!pred(frame)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const idx = this.frames.indexOf(frame);
        if (idx >= 0) this.frames.splice(idx, 1);
        resolve(frame);
      };
      this.waiters.push(waiter);
    });
  }

  /** Starts (or finds) the conversation with `userId`; resolves to its id. */
  async startConversation(userId) {
    this.send({ type: 'chat.start_conversation', receiver_id: userId });
    const frame = await this.next((f) => f.type === 'chat.conversation_started');
    return frame.conversation.id;
  }

  /** Sends a message and waits for the server's echo, its acknowledgement. */
  async say(conversationId, content) {
    this.send({ type: 'chat.message', conversation_id: conversationId, content });
    const frame = await this.next(
      (f) => (f.type === 'chat.message' && f.message.conversation_id === conversationId && f.message.content === content)
        || f.type === 'chat.error',
    );
    if (frame.type === 'chat.error') throw new Error(`send refused: ${JSON.stringify(frame)}`);
    return frame.message;
  }

  close() {
    this.ws.close(1000);
    return this.closed;
  }
}

/**
 * A loopback TCP proxy in front of the server. `cut()` drops every connection through it and
 * refuses new ones until `restore()`: to the browser, the network went away. `hold('up')`
 * silently discards what the browser sends (the server never sees it), `hold('down')` what the
 * server sends (the browser never sees it), until `restore()` or `cut()`.
 */
export class CuttableProxy {
  static async start(targetUrl = BASE_URL) {
    const target = new URL(targetUrl);
    const proxy = new CuttableProxy(target.hostname, Number(target.port));
    await new Promise((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.url = `http://127.0.0.1:${proxy.server.address().port}`;
    return proxy;
  }

  constructor(host, port) {
    this.open = true;
    this.held = { up: false, down: false };
    this.sockets = new Set();
    this.server = net.createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = net.connect(port, host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.on('data', (chunk) => {
        if (!this.held.up) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!this.held.down) client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  cut() {
    this.open = false;
    this.held = { up: false, down: false };
    for (const s of this.sockets) s.destroy();
  }

  /** Discards the bytes going `up` (browser to server) or `down` on the open connections. */
  hold(direction) {
    this.held[direction] = true;
  }

  restore() {
    this.open = true;
    this.held = { up: false, down: false };
  }

  stop() {
    this.cut();
    return new Promise((resolve) => this.server.close(resolve));
  }
}
