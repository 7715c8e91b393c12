// Reading and waiting on the chat page's state, as a person would see it.

/** The text of every message in the open conversation, oldest first. */
export function messageTexts(page) {
  return page.$$eval('#message-list .message .content', (els) => els.map((e) => e.textContent));
}

/** Waits until the open conversation shows a message whose text is exactly `text`. */
export async function waitForMessage(page, text, timeout = 15_000) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#message-list .message .content')].some((e) => e.textContent === t),
    text,
    { timeout },
  );
}

/** Opens the conversation named `name` from the list. */
export async function openConversationWith(page, name) {
  await page.locator('.conversation-item', { has: page.locator('.conversation-name', { hasText: name }) }).click();
  await page.locator('#conversation-title', { hasText: name }).waitFor();
}

/** The receipt text shown under the message whose text is `text` ('' when none). */
export function receiptUnder(page, text) {
  return page.evaluate((t) => {
    const msg = [...document.querySelectorAll('#message-list .message')].find(
      (li) => li.querySelector('.content').textContent === t,
    );
    if (!msg) return null;
    const r = msg.querySelector('.receipt');
    return r.hidden ? '' : r.textContent;
  }, text);
}

export async function waitForReceipt(page, text, receipt, timeout = 15_000) {
  await page.waitForFunction(
    ([t, want]) => {
      const msg = [...document.querySelectorAll('#message-list .message')].find(
        (li) => li.querySelector('.content').textContent === t,
      );
      const r = msg && msg.querySelector('.receipt');
      return !!r && !r.hidden && r.textContent === want;
    },
    [text, receipt],
    { timeout },
  );
}

/**
 * Frames the page sends over its WebSockets, parsed, in order: `frames`, and `next(pred, ms)`
 * resolving to the first frame sent from now on that `pred` accepts.
 */
export function recordSentFrames(page) {
  return recordFrames(page, 'framesent');
}

/** Frames the page receives over its WebSockets, as `recordSentFrames` has those it sends. */
export function recordReceivedFrames(page) {
  return recordFrames(page, 'framereceived');
}

function recordFrames(page, direction) {
  const frames = [];
  const waiters = new Set();
  page.on('websocket', (ws) => {
    ws.on(direction, (event) => {
      let frame;
      try {
        frame = JSON.parse(event.payload);
      } catch (_) {
        return;
      }
      frames.push(frame);
      if (frames.length > 5000) frames.shift();
      for (const w of [...waiters]) w(frame);
    });
  });
  function next(pred, ms = 10_000) {
    return new Promise((resolve, reject) => {
      const waiter = (frame) => {
        if (!pred(frame)) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching ${direction} frame within ${ms} ms`));
      }, ms);
      waiters.add(waiter);
    });
  }
  return { frames, next };
}
