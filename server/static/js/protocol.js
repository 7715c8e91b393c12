// What the page must agree on with the server: the limits it was served with and the WebSocket
// close codes.

/** `shared/src/close.rs` `UNAUTHORIZED`: the token is bad or expired; refresh it or log in. */
export const CLOSE_UNAUTHORIZED = 4001;

/**
 * The server's limits, from the JSON block it renders into the page at start-up
 * (`<script id="config" type="application/json">`), so the page refuses what the server would.
 */
export const limits = (() => {
  const block = document.getElementById('config');
  const config = block ? JSON.parse(block.textContent) : null;
  if (!config || !Number.isInteger(config.max_message_chars)) {
    throw new Error('the page carries no server config');
  }
  return { maxMessageChars: config.max_message_chars };
})();

/** Length as the server counts it: in Unicode scalar values, not UTF-16 units. */
export function charCount(text) {
  return [...text].length;
}
