// Finding people: search as you type (debounced), arrow keys through the results, and the one
// chosen handed to the box's `pick`. The sidebar's box starts a conversation, or adds the person
// to the group being created; the members panel's box adds them to the open group. The server's
// answer goes to the box that asked last.
import { ui } from './dom.js';
import { send } from './socket.js';

const SEARCH_DEBOUNCE_MS = 250;

/** The box whose search was sent last: `chat.search_results` belongs to it. */
let asking = null;
const boxes = [];

/**
 * Wires a search box: `input` (in a form), its `results` list and `empty` hint; `pick(user)` is
 * called with the person chosen, `label(user)` names the result's button for screen readers.
 */
export function searchBox({ form, input, results, empty, pick, label }) {
  const box = { form, input, results, empty, pick, label, timer: null };
  boxes.push(box);
  const ask = () => {
    const keyword = input.value.trim();
    if (keyword && send({ type: 'chat.search_user', keyword })) asking = box;
  };
  input.addEventListener('input', () => {
    clearTimeout(box.timer);
    if (!input.value.trim()) {
      clearBox(box);
      return;
    }
    box.timer = setTimeout(ask, SEARCH_DEBOUNCE_MS);
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(box.timer);
    ask();
  });

  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') {
      const first = results.querySelector('button');
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === 'Escape') {
      input.value = '';
      clearBox(box);
    }
  });

  // Up and down move between the results; Up from the first goes back to the search box.
  results.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    const buttons = [...results.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const to = event.key === 'ArrowDown' ? Math.min(at + 1, buttons.length - 1) : at - 1;
    if (to < 0) input.focus();
    else buttons[to].focus();
  });
  return box;
}

/** The sidebar's box; what choosing someone does is `pick`'s. */
export function initSearch(pick, label) {
  searchBox({
    form: ui.searchForm,
    input: ui.searchInput,
    results: ui.searchResults,
    empty: ui.searchEmpty,
    pick,
    label,
  });
}

function clearBox(box) {
  clearTimeout(box.timer);
  box.results.replaceChildren();
  box.results.hidden = true;
  box.empty.hidden = true;
  if (asking === box) asking = null;
}

/** Drops every pending search and hides the results. */
export function clearSearch() {
  for (const box of boxes) clearBox(box);
}

export function renderSearchResults(results) {
  const box = asking;
  if (!box || !box.input.value.trim()) return; // answer to a search since cleared
  const list = Array.isArray(results) ? results : [];
  box.results.replaceChildren();
  for (const user of list) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'search-result';
    button.textContent = user.username;
    button.setAttribute('aria-label', box.label(user));
    button.addEventListener('click', () => box.pick(user));
    li.append(button);
    box.results.append(li);
  }
  box.results.hidden = list.length === 0;
  box.empty.hidden = list.length > 0;
}
