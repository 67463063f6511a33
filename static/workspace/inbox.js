// The conversation list, live: rows appear, move, change and leave as events arrive over the
// page's one WebSocket; after a reconnect the first page is fetched again over HTTP.
import { api } from "../crm/realtime.js";
import { me, realtime } from "./session.js";
import { ago } from "./format.js";
import { rowElement } from "./rows.js";
import { gettext } from "../crm/i18n.js";
import { countsForMe, Heard } from "./unread.js";

const root = document.getElementById("inbox");
const list = document.getElementById("rows");
const empty = document.getElementById("empty");
const more = document.getElementById("load-more");
const state = JSON.parse(document.getElementById("inbox-state").textContent);

/** id → chat data (the API's shape), for every row shown. */
const chats = new Map(state.chats.map((chat) => [chat.id, chat]));
let nextPage = 2;
let hasMore = state.has_more;

const activity = (chat) => Date.parse(chat.last_activity_at || chat.created_at) || 0;
const newestFirst = (a, b) => activity(b) - activity(a) || b.id - a.id;

/** Does the chat belong in this tab under these filters (the server's rules, mirrored)? */
function matches(chat) {
  if (chat.kind !== "support") return false;
  const assigneeId = chat.assignee ? chat.assignee.id : null;
  if (state.tab === "mine" && assigneeId !== me.id) return false;
  if (state.tab === "unassigned" && assigneeId !== null) return false;
  if (state.tab === "all" && state.assignee_id && assigneeId !== state.assignee_id) return false;
  if (state.statuses.length && !state.statuses.includes(chat.status)) return false;
  if (state.priorities.length && !state.priorities.includes(chat.priority)) return false;
  if (state.inbox_id && (!chat.inbox || chat.inbox.id !== state.inbox_id)) return false;
  if (state.q) {
    const needle = state.q.toLowerCase();
    const hay = [chat.customer?.name, chat.customer?.email, chat.subject, chat.name]
      .filter(Boolean)
      .join("\n")
      .toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

function rowOf(chatId) {
  return list.querySelector(`li.row[data-chat-id="${chatId}"]`);
}

function syncEmpty() {
  empty.hidden = chats.size > 0;
}

/** Put (or re-render) the row where its last activity places it. */
function place(chat, { flash = false } = {}) {
  chats.set(chat.id, chat);
  const old = rowOf(chat.id);
  const fresh = rowElement(chat);
  if (flash) fresh.classList.add("is-fresh");
  const ordered = [...chats.values()].sort(newestFirst);
  const index = ordered.findIndex((c) => c.id === chat.id);
  const after = ordered.slice(index + 1).map((c) => rowOf(c.id)).find((el) => el && el !== old);
  if (old) old.remove();
  list.insertBefore(fresh, after || null);
  syncEmpty();
}

function drop(chatId) {
  chats.delete(chatId);
  const row = rowOf(chatId);
  if (row) row.remove();
  syncEmpty();
}

/** Chats known not to belong here, kept current from events, so that their messages need no
 * request to tell (a busy organization sends every support chat's messages to every page). */
const others = new Map();

/** A chat changed: keep it, move it, or let it leave the tab. */
function upsert(chat, options) {
  const known = chats.get(chat.id) || others.get(chat.id);
  const merged = known
    ? { ...known, ...chat, unread_count: chat.unread_count ?? known.unread_count }
    : chat;
  // A system line (taken, priority changed...) moves the row but keeps the conversation's
  // last words as its preview.
  if (known && known.last_message && merged.last_message && merged.last_message.kind === "system") {
    merged.last_message = known.last_message;
  }
  if (!matches(merged)) {
    others.set(chat.id, merged);
    if (chats.has(chat.id)) drop(chat.id);
    return;
  }
  others.delete(chat.id);
  // A row older than the last one shown belongs to a later page ("Load more" brings it).
  const oldest = [...chats.values()].sort(newestFirst).at(-1);
  if (!chats.has(chat.id) && hasMore && oldest && newestFirst(merged, oldest) > 0) return;
  place(merged, options);
}

// --- Counts --------------------------------------------------------------------------------

let countsTimer = null;
function refreshCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(async () => {
    try {
      const counts = await api(`/admin/inbox/counts/${location.search}`);
      for (const [tab, n] of Object.entries(counts)) {
        const el = root.querySelector(`[data-count="${tab}"]`);
        if (el) el.textContent = n;
      }
    } catch (error) {
      console.warn("inbox counts", error);
    }
  }, 400);
}

// --- Events --------------------------------------------------------------------------------

const fetching = new Set();
const internal = new Set(); // staff chats: never in this list, not asked about again
async function fetchAndUpsert(chatId, options) {
  if (fetching.has(chatId) || internal.has(chatId)) return;
  fetching.add(chatId);
  try {
    const chat = await api(`/api/chats/${chatId}`);
    if (chat.kind !== "support") internal.add(chatId);
    else upsert(chat, options);
  } catch (error) {
    if (error.status !== 404) console.warn("inbox chat", error);
  } finally {
    fetching.delete(chatId);
  }
}

// A row's unread badge: its count from the API, plus every message:new that counts for me (the
// server sends no unread:updated for other people's messages), set by unread:updated when I read
// (in any tab), lowered when a message that was unread is deleted.
const heard = new Heard();

realtime.on("message:new", (message) => {
  const chat = chats.get(message.chat_id) || others.get(message.chat_id);
  const counted = countsForMe(message);
  if (counted) heard.add(message);
  if (!chat) {
    // Not on the page (another tab's, or further down): the server says where it belongs now.
    if (!internal.has(message.chat_id)) {
      fetchAndUpsert(message.chat_id, { flash: true });
      refreshCounts();
    }
    return;
  }
  upsert(
    {
      ...chat,
      last_message: message,
      last_message_at: message.created_at,
      last_activity_at: message.created_at,
      unread_count: (chat.unread_count || 0) + (counted ? 1 : 0),
    },
    { flash: counted },
  );
});

realtime.on("message:updated", (message) => {
  const chat = chats.get(message.chat_id) || others.get(message.chat_id);
  if (!chat) return;
  const was = heard.deletion(message, chat.unread_count || 0);
  const preview = chat.last_message && chat.last_message.id === message.id;
  if (was === "unknown") fetchAndUpsert(chat.id);
  else if (was === "unread" || preview) {
    upsert({
      ...chat,
      last_message: preview ? message : chat.last_message,
      unread_count: Math.max(0, (chat.unread_count || 0) - (was === "unread" ? 1 : 0)),
    });
  }
});

realtime.on("unread:updated", ({ chat_id: chatId, unread_count: count }) => {
  heard.settle(chatId, count);
  const other = others.get(chatId);
  if (other) other.unread_count = count;
  const chat = chats.get(chatId);
  if (!chat || chat.unread_count === count) return;
  place({ ...chat, unread_count: count });
});

// Customers coming and going: the green dot on their avatar.
realtime.on("user:status", ({ user_id: userId, is_online: online }) => {
  for (const chat of chats.values()) {
    if (chat.customer && chat.customer.id === userId) chat.customer.is_online = online;
  }
  for (const avatar of list.querySelectorAll(`.avatar[data-user-id="${userId}"]`)) {
    avatar.classList.toggle("is-online", Boolean(online));
  }
});

realtime.on("chat:new", (chat) => {
  upsert({ ...chat, unread_count: chat.unread_count ?? 0 }, { flash: true });
  refreshCounts();
});

realtime.on("chat:updated", (chat) => {
  if (chat.kind !== "support") return;
  // A chat arriving in this tab (assigned to me, reopened...): the event carries no unread
  // count of mine, the API does.
  if (!chats.has(chat.id) && matches(chat)) fetchAndUpsert(chat.id);
  else upsert(chat);
  refreshCounts();
});

/** The first page again, over HTTP (after a reconnect: pushes may have been missed). */
async function reloadFirstPage() {
  const params = new URLSearchParams({ ...state.api_params, page_size: String(state.page_size) });
  try {
    const page = await api(`/api/chats?${params}`);
    chats.clear();
    others.clear();
    heard.clear();
    list.replaceChildren();
    for (const chat of page.results) place(chat);
    hasMore = Boolean(page.next);
    nextPage = 2;
    more.hidden = !hasMore;
    syncEmpty();
    refreshCounts();
  } catch (error) {
    console.warn("inbox reload", error);
  }
}

realtime.on("open", ({ reconnected, resumed }) => {
  if (reconnected && !resumed) reloadFirstPage();
});

// --- Load more -----------------------------------------------------------------------------

more.addEventListener("click", async () => {
  more.disabled = true;
  const params = new URLSearchParams({
    ...state.api_params,
    page: String(nextPage),
    page_size: String(state.page_size),
  });
  try {
    const page = await api(`/api/chats?${params}`);
    for (const chat of page.results) if (!chats.has(chat.id)) place(chat);
    nextPage += 1;
    hasMore = Boolean(page.next);
  } catch (error) {
    hasMore = error.status !== 404 && hasMore;
  } finally {
    more.disabled = false;
    more.hidden = !hasMore;
  }
});

// --- Connection state, relative times, filters ---------------------------------------------

const live = document.getElementById("live-state");
const LIVE_LABELS = {
  connecting: gettext("Connecting…"),
  open: gettext("Live"),
  reconnecting: gettext("Reconnecting…"),
  signed_out: gettext("Signed out: reload"),
};
realtime.on("status", ({ state: s }) => {
  live.dataset.state = s;
  live.querySelector(".live-label").textContent = LIVE_LABELS[s] || s;
});
if (realtime.connected) realtime.emit("status", { state: "open" });

setInterval(() => {
  for (const time of list.querySelectorAll("time.row-time")) {
    time.textContent = ago(time.getAttribute("datetime"));
  }
}, 30000);

for (const select of root.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}

// Keyboard: j / k move between conversations, Enter opens one, / jumps to the search.
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  if (event.key === "/") {
    event.preventDefault();
    root.querySelector('input[name="q"]').focus();
    return;
  }
  if (event.key !== "j" && event.key !== "k") return;
  const links = [...list.querySelectorAll("a.row-link")];
  if (!links.length) return;
  const at = links.indexOf(document.activeElement);
  const next = event.key === "j" ? Math.min(links.length - 1, at + 1) : Math.max(0, at - 1);
  links[at === -1 ? 0 : next].focus();
  event.preventDefault();
});

root.dataset.ready = "true";
