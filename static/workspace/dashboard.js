// The dashboard's numbers and waiting list, refreshed (debounced) when an event may change them.
import { api } from "../crm/realtime.js";
import { realtime } from "./session.js";
import { rowElement } from "./rows.js";

const cards = document.getElementById("dashboard-cards");
const waiting = document.getElementById("dashboard-unassigned");
const waitingEmpty = document.getElementById("dashboard-unassigned-empty");
const WAITING_ROWS = 5;

function showNumbers(numbers) {
  for (const el of cards.querySelectorAll("[data-number]")) {
    const value = numbers[el.dataset.number];
    if (value !== undefined && String(value) !== el.textContent) {
      el.textContent = value;
      el.classList.remove("is-changed");
      void el.offsetWidth; // restart the highlight animation
      el.classList.add("is-changed");
    }
  }
  cards
    .querySelector('[data-attention="unassigned"]')
    ?.classList.toggle("is-attention", numbers.unassigned > 0);
}

function showWaiting(page) {
  waiting.replaceChildren(...page.results.map((chat) => rowElement(chat)));
  waitingEmpty.hidden = page.results.length > 0;
}

let generation = 0;
async function refreshNow() {
  const mine = ++generation;
  const params = new URLSearchParams({
    kind: "support",
    assigned: "false",
    status: "open,pending",
    page_size: String(WAITING_ROWS),
  });
  const [numbers, page] = await Promise.all([
    api("/admin/dashboard/numbers/"),
    api(`/api/chats?${params}`),
  ]);
  if (mine !== generation) return; // a newer refresh is under way: its answer wins
  showNumbers(numbers);
  showWaiting(page);
}

let timer = null;
function refresh() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    refreshNow().catch((error) => console.warn("dashboard refresh", error));
  }, 500);
}

// The waiting rows' unread badges come with them: a message (message:new: the server sends no
// unread:updated for other people's messages), a deleted one, or my own read in any tab
// (unread:updated) refreshes them.
for (const type of ["chat:new", "chat:updated", "message:new", "operator:status", "unread:updated"]) {
  realtime.on(type, refresh);
}
realtime.on("message:updated", (message) => {
  if (message.deleted_at) refresh();
});
realtime.on("open", ({ reconnected, resumed }) => {
  if (reconnected && !resumed) refresh();
});
cards.dataset.ready = "true";
