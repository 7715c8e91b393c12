// Finding people: search as you type (debounced), arrow keys through the results, and a
// conversation started with the one chosen.
import { ui } from './dom.js';
import { send } from './socket.js';

const SEARCH_DEBOUNCE_MS = 250;

let searchTimer = null;

/** Wires the search box and its results. */
export function initSearch() {
  ui.searchInput.addEventListener('input', () => {
    clearTimeout(searchTimer);
    const keyword = ui.searchInput.value.trim();
    if (!keyword) {
      clearSearch();
      return;
    }
    searchTimer = setTimeout(() => send({ type: 'chat.search_user', keyword }), SEARCH_DEBOUNCE_MS);
  });

  ui.searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    const keyword = ui.searchInput.value.trim();
    if (keyword) send({ type: 'chat.search_user', keyword });
  });

  ui.searchInput.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') {
      const first = ui.searchResults.querySelector('button');
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === 'Escape') {
      ui.searchInput.value = '';
      clearSearch();
    }
  });

  // Up and down move between the results; Up from the first goes back to the search box.
  ui.searchResults.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    const buttons = [...ui.searchResults.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const to = event.key === 'ArrowDown' ? Math.min(at + 1, buttons.length - 1) : at - 1;
    if (to < 0) ui.searchInput.focus();
    else buttons[to].focus();
  });
}

/** Drops a pending search and hides the results. */
export function clearSearch() {
  clearTimeout(searchTimer);
  ui.searchResults.replaceChildren();
  ui.searchResults.hidden = true;
  ui.searchEmpty.hidden = true;
}

export function renderSearchResults(results) {
  if (!ui.searchInput.value.trim()) return; // answer to a search since cleared
  const list = Array.isArray(results) ? results : [];
  ui.searchResults.replaceChildren();
  for (const user of list) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'search-result';
    button.textContent = user.username;
    button.setAttribute('aria-label', `Start a conversation with ${user.username}`);
    button.addEventListener('click', () => send({ type: 'chat.start_conversation', receiver_id: user.id }));
    li.append(button);
    ui.searchResults.append(li);
  }
  ui.searchResults.hidden = list.length === 0;
  ui.searchEmpty.hidden = list.length > 0;
}
