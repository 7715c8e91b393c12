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

/** Frames the page sent over its WebSockets, parsed, in order. */
export function recordSentFrames(page) {
  const frames = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (event) => {
      try {
        frames.push(JSON.parse(event.payload));
      } catch (_) {
        /* not ours */
      }
      if (frames.length > 5000) frames.shift();
    });
  });
  return frames;
}
