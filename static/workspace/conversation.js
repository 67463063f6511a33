// The operator's conversation page: /admin/inbox/<chat_id>/.
//
// The server renders the chat, its newest history and the side panel's data (the JSON block
// #conversation-data); everything after that is live: events over the page's one socket
// (session.js), history and actions over the JSON API. Text is always set with textContent.
import { api, ApiError, catchUp, newClientId } from "../crm/realtime.js";
import { me, realtime } from "./session.js";
import { reading } from "./unread.js";
import { formatDateTime, formatNumber, gettext, interpolate, lang, ngettext } from "../crm/i18n.js";

const boot = JSON.parse(document.getElementById("conversation-data").textContent);
const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
};

const SENIOR_ROLES = new Set(["senior_operator", "admin"]);
const STATUS_LABELS = { open: gettext("Open"), pending: gettext("Pending"), closed: gettext("Closed") };
const DELIVERY_LABELS = {
  pending: gettext("Sending…"),
  sent: gettext("Sent"),
  delivered: gettext("Delivered"),
  read: gettext("Read"),
  failed: gettext("Failed"),
};
// Why a channel message failed, by the error's code; the stored detail (often the provider's
// own words) follows on its own line.
const DELIVERY_ERRORS = {
  bot_blocked: gettext("The customer blocked the bot."),
  callback_missing: gettext("The inbox has no callback URL."),
  channel_unavailable: gettext("The channel is unavailable: the inbox is inactive or has no recipient."),
  delivery_unknown: gettext("It is not known whether the provider received it, so it was not sent again."),
  message_deleted: gettext("Deleted before it was sent."),
  provider_rejected: gettext("The provider refused the message."),
  provider_unavailable: gettext("The provider stayed unavailable through every retry."),
  reply_window_closed: gettext("The 24-hour reply window had closed."),
  url_refused: gettext("The callback address is not a public one."),
};
const AVAILABILITY_LABELS = { online: gettext("Online"), away: gettext("Away"), offline: gettext("Offline") };
const TYPING_SAFETY_MS = 8000;

let chat = boot.chat;
const chatId = chat.id;
const customer = chat.customer;
let customerReadUpTo = boot.customer_read_up_to || 0;
let hasMore = boot.has_more;
let firstId = null;
let lastId = 0;
let readSent = 0;
let loadingOlder = false;
let viewers = [];
const staffTyping = new Map(); // user id -> timer
let customerTypingTimer = null;
const orders = new Map(boot.orders.map((o) => [o.id, o]));

const scroller = $("cv-scroll");
const list = $("cv-messages");
const composer = $("cv-composer");
const input = $("cv-text");
const fileInput = $("cv-file");
const filesTray = $("cv-files");
const cannedBox = $("cv-canned");
const notice = $("cv-notice");

// --- Small helpers --------------------------------------------------------------------------

function initials(name) {
  return (name || "?")
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join("");
}

function formatTime(iso) {
  const date = new Date(iso);
  const today = new Date();
  const time = formatDateTime(date, { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === today.toDateString()) return time;
  return `${formatDateTime(date, { month: "short", day: "numeric" })}, ${time}`;
}

function formatSize(bytes) {
  if (!bytes && bytes !== 0) return "";
  const unit = (value, name, digits) =>
    formatNumber(value, { style: "unit", unit: name, unitDisplay: "short", maximumFractionDigits: digits });
  if (bytes < 1024) return unit(bytes, "byte", 0);
  if (bytes < 1024 * 1024) return unit(bytes / 1024, "kilobyte", 0);
  return unit(bytes / 1024 / 1024, "megabyte", 1);
}

function errorText(error, fallback) {
  if (error instanceof ApiError || error.detail) return error.detail || error.message;
  if (error.message === "offline" || error.message === "timeout") return gettext("You are offline.");
  return fallback || error.message;
}

let noticeTimer = null;
function showNotice(text, kind = "error") {
  notice.textContent = text;
  notice.className = `cv-notice cv-notice-${kind}`;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  if (kind !== "offline") noticeTimer = setTimeout(() => (notice.hidden = true), 8000);
}

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToBottom() {
  scroller.scrollTop = scroller.scrollHeight;
}

// --- Messages -------------------------------------------------------------------------------

const nodes = new Map(); // message id -> li
const drafts = new Map(); // client_id -> {li, payload}

function isFromCustomer(m) {
  return m.sender && customer && m.sender.id === customer.id;
}

function renderAttachment(a) {
  const box = el("div", `cv-att cv-att-${a.kind || "document"}`);
  if (a.kind === "image" && (a.thumbnail_url || a.preview)) {
    const link = el("a", "cv-att-thumb");
    link.href = a.url || "#";
    link.target = "_blank";
    link.rel = "noopener";
    const img = el("img");
    img.src = a.preview || a.thumbnail_url;
    img.alt = a.name || "image";
    img.loading = "lazy";
    if (a.width && a.height) {
      img.width = Math.min(240, a.width);
      img.height = Math.round((img.width * a.height) / a.width);
    }
    link.append(img);
    box.append(link);
  } else {
    box.append(el("span", "cv-att-icon", (a.name || "").split(".").pop().slice(0, 4).toUpperCase() || "FILE"));
    const info = el("div", "cv-att-info");
    info.append(el("span", "cv-att-name", a.name), el("span", "cv-att-size", formatSize(a.size)));
    box.append(info);
  }
  if (a.url) {
    const download = el("a", "cv-att-download", gettext("Download"));
    download.href = a.url;
    download.setAttribute("download", a.name || "");
    box.append(download);
  }
  return box;
}

function deliveryNode(m) {
  // Channel messages carry `delivery`; web messages show the customer's read receipt.
  const span = el("span", "cv-delivery");
  let state = m.delivery;
  if (m._state === "sending") state = "pending";
  else if (!state) state = m.id <= customerReadUpTo ? "read" : "sent";
  span.dataset.state = state;
  span.textContent = m.delivery ? DELIVERY_LABELS[state] || state : state === "read" ? gettext("Seen") : DELIVERY_LABELS[state];
  if (state === "failed" && m.delivery_error) {
    const { code, detail } = m.delivery_error;
    const reason = DELIVERY_ERRORS[code];
    span.title = reason ? (detail && detail !== reason ? `${reason}\n${detail}` : reason) : detail || code;
  }
  return span;
}

function renderMessage(m) {
  const li = el("li");
  li.dataset.id = m.id;
  if (m.client_id) li.dataset.clientId = m.client_id;
  if (m.kind === "system") {
    li.className = "cv-msg cv-sys";
    li.append(el("span", "cv-sys-text", m.text), el("time", "cv-sys-time", formatTime(m.created_at)));
    return li;
  }
  // Support chats: the customer's side and the team's; internal chats: others and me.
  const incoming = customer ? isFromCustomer(m) : !!m.sender && m.sender.id !== me.id;
  const note = m.kind === "note";
  li.className = `cv-msg ${incoming ? "cv-in" : "cv-out"}${note ? " cv-note" : ""}${m.automated ? " cv-auto" : ""}${m.deleted_at ? " cv-deleted" : ""}`;
  const bubble = el("div", "cv-bubble");
  const head = el("div", "cv-msg-head");
  if (note) head.append(el("span", "cv-tag cv-tag-note", gettext("Private note")));
  if (m.automated) head.append(el("span", "cv-tag cv-tag-auto", gettext("Automated")));
  const author = m.sender ? (m.sender.id === me.id ? gettext("You") : m.sender.name) : m.automated ? gettext("Bot") : "";
  if (author) head.append(el("span", "cv-author", author));
  bubble.append(head);
  if (m.deleted_at) bubble.append(el("div", "cv-text", gettext("Message deleted")));
  else if (m.text) bubble.append(el("div", "cv-text", m.text));
  const attachments = m.attachments || [];
  if (attachments.length) {
    const box = el("div", "cv-atts");
    for (const a of attachments) box.append(renderAttachment(a));
    bubble.append(box);
  }
  const meta = el("div", "cv-meta");
  const time = el("time", "cv-time", formatTime(m.created_at));
  time.dateTime = m.created_at;
  time.title = formatDateTime(new Date(m.created_at), { dateStyle: "medium", timeStyle: "short" });
  meta.append(time);
  if (m.edited_at) meta.append(el("span", "cv-edited", "edited"));
  if (!incoming && !note) meta.append(deliveryNode(m));
  if (m._state === "failed") {
    meta.append(el("span", "cv-failed-text", interpolate(gettext("Not sent: %(reason)s"), { reason: m._error })));
    const retry = el("button", "cv-retry", gettext("Retry"));
    retry.type = "button";
    retry.dataset.retryDraft = m.client_id;
    meta.append(retry);
  } else if (m.delivery === "failed" && m.id) {
    const retry = el("button", "cv-retry", gettext("Retry"));
    retry.type = "button";
    retry.dataset.retryMessage = m.id;
    meta.append(retry);
  }
  bubble.append(meta);
  li.append(bubble);
  li._message = m;
  return li;
}

function placeConfirmed(li, id) {
  // Keep id order; drafts (not yet stored) always stay below the stored messages.
  if (id > lastId) {
    const firstDraft = list.querySelector(".cv-draft");
    list.insertBefore(li, firstDraft);
    return;
  }
  for (const node of list.children) {
    if (!node.classList.contains("cv-draft") && Number(node.dataset.id) > id) {
      list.insertBefore(li, node);
      return;
    }
  }
  list.insertBefore(li, list.querySelector(".cv-draft"));
}

/** Add or update stored messages (from history, events, acks). */
function upsert(messages, { older = false } = {}) {
  const stick = !older && nearBottom();
  const height = scroller.scrollHeight;
  const top = scroller.scrollTop;
  let arrived = false;
  for (const m of messages) {
    if (m.chat_id !== undefined && m.chat_id !== chatId) continue;
    const draft = m.client_id && drafts.get(m.client_id);
    const li = renderMessage(m);
    const existing = nodes.get(m.id) || (draft && draft.li);
    if (draft) drafts.delete(m.client_id);
    if (existing && existing.isConnected) {
      if (existing.classList.contains("cv-draft")) {
        existing.remove();
        placeConfirmed(li, m.id);
      } else existing.replaceWith(li);
    } else {
      placeConfirmed(li, m.id);
      arrived = arrived || !(m.sender && m.sender.id === me.id);
    }
    nodes.set(m.id, li);
    lastId = Math.max(lastId, m.id);
    firstId = firstId === null ? m.id : Math.min(firstId, m.id);
    if (isFromCustomer(m)) clearCustomerTyping();
  }
  markDays();
  if (older) scroller.scrollTop = top + (scroller.scrollHeight - height);
  else if (stick) scrollToBottom();
  else if (arrived) $("cv-jump").hidden = false;
  if (arrived) markRead();
}

function dayLabel(date) {
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (date.toDateString() === today.toDateString()) return gettext("Today");
  if (date.toDateString() === yesterday.toDateString()) return gettext("Yesterday");
  const sameYear = date.getFullYear() === today.getFullYear();
  return formatDateTime(date, { weekday: sameYear ? "short" : undefined, month: "short", day: "numeric", year: sameYear ? undefined : "numeric" });
}

/** A divider before the first message of each day. */
function markDays() {
  for (const old of list.querySelectorAll(".cv-day")) old.remove();
  let previous = null;
  for (const li of [...list.children]) {
    const m = li._message;
    if (!m || !m.created_at) continue;
    const day = new Date(m.created_at).toDateString();
    if (day !== previous) {
      const divider = el("li", "cv-day");
      divider.setAttribute("role", "separator");
      divider.append(el("span", "", dayLabel(new Date(m.created_at))));
      list.insertBefore(divider, li);
      previous = day;
    }
  }
}

function refreshTicks() {
  for (const li of nodes.values()) {
    const m = li._message;
    if (!m || m.delivery || isFromCustomer(m) || m.kind === "note" || m.kind === "system") continue;
    const old = li.querySelector(".cv-delivery");
    if (old) old.replaceWith(deliveryNode(m));
  }
}

async function loadOlder() {
  if (!hasMore || loadingOlder || firstId === null) return;
  loadingOlder = true;
  $("cv-older").hidden = false;
  try {
    const page = await api(`/api/chats/${chatId}/messages?before=${firstId}&limit=50`);
    hasMore = page.has_more;
    upsert(page.results || [], { older: true });
  } catch (error) {
    showNotice(interpolate(gettext("Could not load earlier messages: %(reason)s"), { reason: errorText(error) }));
  } finally {
    loadingOlder = false;
    $("cv-older").hidden = !hasMore;
  }
}

scroller.addEventListener("scroll", () => {
  if (scroller.scrollTop < 120) loadOlder();
  if (nearBottom()) {
    $("cv-jump").hidden = true;
    markRead();
  }
});
$("cv-jump").addEventListener("click", () => {
  scroller.scrollTo({ top: scroller.scrollHeight, behavior: "smooth" });
  $("cv-jump").hidden = true;
});

function markRead() {
  // Read means seen: the page is visible and the newest messages are on screen.
  if (document.visibilityState !== "visible" || lastId <= readSent || !nearBottom()) return;
  const upTo = lastId;
  readSent = upTo;
  realtime
    .request("messages:read", { chat_id: chatId, up_to: upTo })
    .catch(() => api(`/api/chats/${chatId}/read`, { method: "POST", json: { up_to: upTo } }))
    .catch(() => {
      readSent = Math.min(readSent, upTo - 1);
    });
}
document.addEventListener("visibilitychange", markRead);
// What this page read as messages arrived: the nav total does not count those (unread.js).
reading.chatId = chatId;
reading.readUpTo = () => readSent;

// --- Header: state and actions --------------------------------------------------------------

const isSenior = SENIOR_ROLES.has(me.role);

function renderHeader() {
  const name = customer ? customer.name : chat.name;
  $("cv-title").textContent = name;
  $("cv-avatar").textContent = initials(name);
  $("cv-channel").textContent = chat.inbox ? chat.inbox.name : chat.kind;
  const status = $("cv-status");
  status.textContent = STATUS_LABELS[chat.status] || "";
  status.dataset.status = chat.status || "";
  status.hidden = !chat.status;
  $("cv-assignee").textContent = chat.status
    ? chat.assignee
      ? chat.assignee.id === me.id
        ? gettext("Assigned to you")
        : interpolate(gettext("Assigned to %(name)s"), { name: chat.assignee.name })
      : gettext("Nobody is assigned")
    : "";
  const support = chat.kind === "support";
  const show = (action, visible) => {
    document.querySelector(`[data-action="${action}"]`).hidden = !(support && visible);
  };
  const closed = chat.status === "closed";
  show("take", !chat.assignee && chat.status !== "closed");
  show("assign", isSenior && !closed);
  show("unassign", !!chat.assignee && (isSenior || chat.assignee.id === me.id));
  show("pending", chat.status === "open");
  show("close", !closed);
  show("reopen", closed || chat.status === "pending");
  const priority = $("cv-priority");
  priority.value = chat.priority || "normal";
  priority.parentElement.hidden = !support;
  priority.dataset.priority = chat.priority || "normal";
  document.title = `${name} · ${gettext("Conversation")}`;
}

function setChat(data) {
  if (!data || data.id !== chatId) return;
  chat = { ...chat, ...data };
  renderHeader();
  renderWindow();
}

// --- WhatsApp's 24-hour reply window ----------------------------------------------------------
// Outside it only an approved template reaches the customer: the server refuses a free-form
// reply (409 reply_window_closed); the page says so first and offers the template form.

const windowBar = $("cv-window");
const templateForm = $("cv-template");
let windowTimer = null;
let checkedEnd; // the window end last confirmed with the server (undefined: never)

function windowClosed() {
  if (!chat.inbox || chat.inbox.kind !== "whatsapp") return false;
  const ends = chat.reply_window_ends_at ? Date.parse(chat.reply_window_ends_at) : 0;
  return !(ends > Date.now());
}

function leftText(ms) {
  const minutes = Math.max(1, Math.ceil(ms / 60000));
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  const format = h ? windowBar.dataset.hours : windowBar.dataset.minutes;
  return format.replace("{h}", String(h)).replace("{m}", String(m));
}

function renderWindow() {
  clearTimeout(windowTimer);
  const whatsapp = !!(chat.inbox && chat.inbox.kind === "whatsapp");
  windowBar.hidden = !whatsapp;
  if (!whatsapp) {
    templateForm.hidden = true;
    return;
  }
  const closed = windowClosed();
  windowBar.dataset.state = closed ? "closed" : "open";
  $("cv-window-text").textContent = closed
    ? windowBar.dataset.closedText
    : windowBar.dataset.openText.replace("{left}", leftText(Date.parse(chat.reply_window_ends_at) - Date.now()));
  composer.dataset.windowClosed = String(closed);
  const blocked = closed && mode === "reply";
  input.disabled = blocked;
  $("cv-send").disabled = blocked;
  if (!closed) {
    const left = Date.parse(chat.reply_window_ends_at) - Date.now();
    windowTimer = setTimeout(renderWindow, Math.min(30000, left + 500));
  } else if (checkedEnd !== chat.reply_window_ends_at) {
    // The customer may have written since: the end moves without an event while it is open.
    checkedEnd = chat.reply_window_ends_at;
    refetchChat();
  }
}

function toggleTemplate(open) {
  templateForm.hidden = !open;
  $("cv-template-open").setAttribute("aria-expanded", String(open));
  if (open) templateForm.elements.name.focus();
}
$("cv-template-open").addEventListener("click", () => toggleTemplate(templateForm.hidden));
$("cv-template-cancel").addEventListener("click", () => toggleTemplate(false));
templateForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("cv-template-error");
  error.hidden = true;
  const fields = templateForm.elements;
  const parameters = fields.parameters.value
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const submit = templateForm.querySelector("[type=submit]");
  submit.disabled = true;
  try {
    const message = await api(`/api/chats/${chatId}/template`, {
      method: "POST",
      json: {
        name: fields.name.value.trim(),
        language: fields.language.value.trim(),
        parameters,
        client_id: newClientId(),
      },
    });
    upsert([message]);
    templateForm.reset();
    toggleTemplate(false);
    scrollToBottom();
  } catch (failure) {
    error.textContent = errorText(failure, "try again");
    error.hidden = false;
  } finally {
    submit.disabled = false;
  }
});

async function act(button, request) {
  button.disabled = true;
  button.classList.add("cv-busy");
  try {
    setChat(await request());
  } catch (error) {
    if (error.code === "chat_already_assigned") showNotice(interpolate(gettext("Someone was faster: %(reason)s"), { reason: errorText(error) }));
    else showNotice(errorText(error, gettext("The action failed; try again.")));
    refetchChat();
  } finally {
    button.disabled = false;
    button.classList.remove("cv-busy");
  }
}

const post = (path, json) => () => api(`/api/chats/${chatId}/${path}`, { method: "POST", json });
const patch = (json) => () => api(`/api/chats/${chatId}`, { method: "PATCH", json });

const ACTIONS = {
  take: post("take"),
  unassign: post("unassign"),
  close: post("close"),
  reopen: () => (chat.status === "closed" ? post("reopen")() : patch({ status: "open" })()),
  pending: patch({ status: "pending" }),
};

document.querySelector(".cv-actions").addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  if (action === "assign") return toggleOperators();
  if (ACTIONS[action]) act(button, ACTIONS[action]);
});

$("cv-priority").addEventListener("change", (event) => {
  const select = event.target;
  act(select, patch({ priority: select.value }));
});

const operatorsBox = $("cv-operators");
async function toggleOperators() {
  if (!operatorsBox.hidden) {
    operatorsBox.hidden = true;
    return;
  }
  operatorsBox.replaceChildren(el("div", "cv-muted cv-pad", gettext("Loading operators…")));
  operatorsBox.hidden = false;
  try {
    const page = await api("/api/operators?page_size=100");
    operatorsBox.replaceChildren();
    for (const op of page.results || []) {
      const item = el("button", "cv-op");
      item.type = "button";
      item.setAttribute("role", "option");
      item.dataset.operatorId = op.id;
      const dot = el("span", `cv-dot cv-dot-${op.availability}`);
      dot.title = AVAILABILITY_LABELS[op.availability] || op.availability;
      const load = op.open_chats !== null && op.open_chats !== undefined ? `${op.open_chats}/${op.capacity}` : "";
      item.append(dot, el("span", "cv-op-name", op.user.name), el("span", "cv-op-load", load));
      if (chat.assignee && chat.assignee.id === op.id) item.setAttribute("aria-selected", "true");
      operatorsBox.append(item);
    }
    operatorsBox.querySelector("button")?.focus();
  } catch (error) {
    operatorsBox.replaceChildren(el("div", "cv-error cv-pad", errorText(error)));
  }
}

operatorsBox.addEventListener("click", (event) => {
  const item = event.target.closest("[data-operator-id]");
  if (!item) return;
  operatorsBox.hidden = true;
  act(document.querySelector('[data-action="assign"]'), post("assign", { operator_id: Number(item.dataset.operatorId) }));
});
operatorsBox.addEventListener("keydown", (event) => {
  const items = [...operatorsBox.querySelectorAll("button")];
  const index = items.indexOf(document.activeElement);
  if (event.key === "ArrowDown") items[(index + 1) % items.length]?.focus();
  else if (event.key === "ArrowUp") items[(index - 1 + items.length) % items.length]?.focus();
  else if (event.key === "Escape") {
    operatorsBox.hidden = true;
    document.querySelector('[data-action="assign"]').focus();
  } else return;
  event.preventDefault();
});
document.addEventListener("click", (event) => {
  if (!event.target.closest(".cv-assign-wrap")) operatorsBox.hidden = true;
  if (!event.target.closest(".cv-input-wrap")) closeCanned();
});

async function refetchChat() {
  try {
    setChat(await api(`/api/chats/${chatId}`));
  } catch {
    /* the next event or reconnect brings it */
  }
}

// --- Who else is here -----------------------------------------------------------------------

function names(list) {
  return new Intl.ListFormat(lang, { type: "conjunction" }).format(list);
}

function renderPresence() {
  const box = $("cv-presence");
  const others = viewers.filter((v) => v.id !== me.id);
  const typers = [...staffTyping.keys()]
    .filter((id) => id !== me.id)
    .map((id) => (viewers.find((v) => v.id === id) || { name: gettext("A colleague") }).name);
  box.replaceChildren();
  if (!others.length && !typers.length) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.classList.toggle("cv-presence-typing", typers.length > 0);
  const faces = el("span", "cv-faces");
  for (const v of others.slice(0, 3)) {
    const face = el("span", "cv-face", initials(v.name));
    face.title = v.name;
    faces.append(face);
  }
  box.append(faces);
  const text = typers.length
    ? interpolate(ngettext("%(names)s is typing a reply", "%(names)s are typing a reply", typers.length), { names: names(typers) })
    : interpolate(ngettext("%(names)s is also viewing", "%(names)s are also viewing", others.length), {
        names: names(others.map((v) => v.name)),
      });
  box.append(el("span", "cv-presence-text", text));
}

function clearCustomerTyping() {
  clearTimeout(customerTypingTimer);
  $("cv-typing").replaceChildren();
}

function onTyping(data, started) {
  if (data.chat_id !== chatId || data.user_id === me.id) return;
  if (customer && data.user_id === customer.id) {
    clearCustomerTyping();
    if (started) {
      const line = $("cv-typing");
      line.append(el("span", "cv-dots"), el("span", "", interpolate(gettext("%(name)s is typing…"), { name: customer.name })));
      customerTypingTimer = setTimeout(clearCustomerTyping, TYPING_SAFETY_MS);
    }
    return;
  }
  clearTimeout(staffTyping.get(data.user_id));
  staffTyping.delete(data.user_id);
  if (started) {
    staffTyping.set(
      data.user_id,
      setTimeout(() => {
        staffTyping.delete(data.user_id);
        renderPresence();
      }, TYPING_SAFETY_MS),
    );
  }
  renderPresence();
}

function renderOnline(online) {
  const dot = $("cv-online");
  if (!dot) return;
  dot.textContent = online ? gettext("Online") : gettext("Offline");
  dot.dataset.online = online ? "1" : "0";
  $("cv-avatar").dataset.online = online ? "1" : "0";
}

// --- Side panel: orders and earlier conversations ------------------------------------------

function renderOrders() {
  const box = $("cv-orders");
  if (!box) return;
  box.replaceChildren();
  const sorted = [...orders.values()].sort((a, b) => b.id - a.id);
  if (!sorted.length) box.append(el("li", "cv-muted", gettext("No orders yet.")));
  for (const o of sorted) {
    const li = el("li", "cv-order");
    const link = el("a", "cv-order-link");
    link.href = o.admin_url || boot.order_add_url.replace(/add\/$/, `${o.id}/change/`);
    link.append(el("span", "cv-order-number", o.display_number || `#${o.number}`), el("span", "cv-order-title", o.title));
    const meta = el("div", "cv-order-meta");
    const badge = el("span", "cv-badge", o.status.replace("_", " "));
    badge.dataset.status = o.status;
    meta.append(badge, el("span", "cv-order-total", `${o.total} ${o.currency}`));
    li.append(link, meta);
    box.append(li);
  }
}

function renderEarlier() {
  const box = $("cv-earlier");
  if (!box) return;
  box.replaceChildren();
  if (!boot.earlier.length) box.append(el("li", "cv-muted", gettext("No earlier conversations.")));
  for (const c of boot.earlier) {
    const li = el("li");
    const link = el("a", "cv-earlier-link");
    link.href = c.url;
    link.append(
      el("span", "cv-earlier-subject", c.subject || interpolate(gettext("Conversation #%(id)s"), { id: c.id })),
      el("span", "cv-earlier-meta", `${c.inbox ? `${c.inbox} · ` : ""}${formatTime(c.last_activity_at)}`),
    );
    const badge = el("span", "cv-badge", STATUS_LABELS[c.status] || c.status);
    badge.dataset.status = c.status;
    li.append(link, badge);
    box.append(li);
  }
}

const orderForm = $("cv-order-form");
orderForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(orderForm);
  const error = $("cv-order-error");
  error.hidden = true;
  const amount = String(form.get("amount") || "").replace(",", ".").trim();
  const payload = {
    customer_id: customer.id,
    chat_id: chatId,
    title: String(form.get("title") || "").trim(),
    currency: String(form.get("currency") || "EUR").trim().toUpperCase(),
  };
  if (amount) payload.items = [{ name: payload.title, quantity: "1", unit_price: amount }];
  const button = orderForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const order = await api("/api/orders", { method: "POST", json: payload });
    orders.set(order.id, order);
    renderOrders();
    orderForm.reset();
    orderForm.closest("details").open = false;
  } catch (failure) {
    const fields = failure.body && typeof failure.body === "object" ? Object.entries(failure.body).filter(([k]) => !["detail", "code"].includes(k)) : [];
    error.textContent = fields.length ? fields.map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ") : errorText(failure);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});

$("cv-side-toggle").addEventListener("click", () => {
  const root = $("conversation");
  const open = !root.classList.contains("cv-side-open");
  root.classList.toggle("cv-side-open", open);
  $("cv-side-toggle").setAttribute("aria-expanded", String(open));
});

// --- Composer -------------------------------------------------------------------------------

let mode = "reply";
let staged = []; // {file, preview, id?}

function setMode(next) {
  if (next === mode) return;
  stopTyping();
  mode = next;
  composer.dataset.mode = mode;
  for (const tab of composer.querySelectorAll(".cv-mode")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  }
  input.placeholder =
    mode === "note" ? gettext("Write a private note: only your team sees it") : gettext("Reply to the customer…  Type / for canned responses");
  $("cv-send").textContent = mode === "note" ? gettext("Add note") : gettext("Send");
  renderWindow();
  input.focus();
}
composer.querySelector(".cv-modes").addEventListener("click", (event) => {
  const tab = event.target.closest(".cv-mode");
  if (tab) setMode(tab.dataset.mode);
});

function renderStaged() {
  filesTray.replaceChildren();
  filesTray.hidden = !staged.length;
  staged.forEach((item, index) => {
    const li = el("li", "cv-file");
    if (item.preview) {
      const img = el("img");
      img.src = item.preview;
      img.alt = "";
      li.append(img);
    } else li.append(el("span", "cv-att-icon", item.file.name.split(".").pop().slice(0, 4).toUpperCase()));
    li.append(el("span", "cv-file-name", item.file.name), el("span", "cv-file-size", formatSize(item.file.size)));
    const remove = el("button", "cv-file-remove", "×");
    remove.type = "button";
    remove.title = interpolate(gettext("Remove %(name)s"), { name: item.file.name });
    remove.setAttribute("aria-label", remove.title);
    remove.addEventListener("click", () => {
      staged.splice(index, 1);
      renderStaged();
    });
    li.append(remove);
    filesTray.append(li);
  });
}

function stage(files) {
  for (const file of files) {
    staged.push({ file, preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null });
  }
  renderStaged();
  input.focus();
}

fileInput.addEventListener("change", () => {
  stage([...fileInput.files]);
  fileInput.value = "";
});
input.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData?.files || [])];
  if (files.length) {
    event.preventDefault();
    stage(files);
  }
});
let dragDepth = 0;
const thread = document.querySelector(".cv-thread");
thread.addEventListener("dragenter", (event) => {
  if (![...event.dataTransfer.types].includes("Files")) return;
  dragDepth++;
  thread.classList.add("cv-dragging");
});
thread.addEventListener("dragleave", () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    thread.classList.remove("cv-dragging");
  }
});
thread.addEventListener("dragover", (event) => event.preventDefault());
thread.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  thread.classList.remove("cv-dragging");
  if (event.dataTransfer.files.length) stage([...event.dataTransfer.files]);
});

async function upload(items) {
  const ids = [];
  for (const item of items) {
    if (!item.id) {
      const body = new FormData();
      body.append("file", item.file);
      body.append("chat_id", String(chatId));
      item.media = await api("/api/media", { method: "POST", body });
      item.id = item.media.id;
    }
    ids.push(item.id);
  }
  return ids;
}

async function deliver(draft) {
  const { payload } = draft;
  payload.attachment_ids = await upload(draft.files);
  try {
    return await realtime.request("message:send", payload);
  } catch (error) {
    if (error.code) throw error; // the server refused it: the same refusal over HTTP
    return api(`/api/chats/${chatId}/messages`, { method: "POST", json: payload });
  }
}

async function sendDraft(draft) {
  const local = {
    id: 0,
    client_id: draft.payload.client_id,
    chat_id: chatId,
    sender: { id: me.id, name: me.name },
    kind: draft.payload.kind,
    text: draft.payload.text,
    attachments: draft.files.map((f) => ({
      name: f.file.name,
      size: f.file.size,
      kind: f.preview ? "image" : "document",
      preview: f.preview,
    })),
    created_at: new Date().toISOString(),
    _state: "sending",
  };
  const li = renderMessage(local);
  li.classList.add("cv-draft");
  if (draft.li && draft.li.isConnected) draft.li.replaceWith(li);
  else list.append(li);
  draft.li = li;
  drafts.set(local.client_id, draft);
  scrollToBottom();
  try {
    const message = await deliver(draft);
    if (drafts.has(local.client_id)) upsert([message]);
    else if (!nodes.has(message.id)) upsert([message]);
  } catch (error) {
    const failed = renderMessage({ ...local, _state: "failed", _error: errorText(error, "try again") });
    failed.classList.add("cv-draft", "cv-draft-failed");
    draft.li.replaceWith(failed);
    draft.li = failed;
  }
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text && !staged.length) return;
  const draft = {
    payload: {
      chat_id: chatId,
      text,
      kind: mode === "note" ? "note" : "text",
      client_id: newClientId(),
      attachment_ids: [],
    },
    files: staged,
  };
  staged = [];
  renderStaged();
  input.value = "";
  autosize();
  stopTyping();
  closeCanned();
  sendDraft(draft);
});

list.addEventListener("click", async (event) => {
  const again = event.target.closest("[data-retry-draft]");
  if (again) {
    const draft = drafts.get(again.dataset.retryDraft);
    if (draft) sendDraft(draft);
    return;
  }
  const retry = event.target.closest("[data-retry-message]");
  if (!retry) return;
  retry.disabled = true;
  retry.textContent = gettext("Retrying…");
  try {
    upsert([await api(`/api/messages/${retry.dataset.retryMessage}/retry`, { method: "POST" })]);
  } catch (error) {
    retry.disabled = false;
    retry.textContent = gettext("Retry");
    if (error.status === 404) showNotice(gettext("This message can't be sent again."));
    else showNotice(interpolate(gettext("Not retried: %(reason)s"), { reason: errorText(error) }));
  }
});

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 220)}px`;
}

// Typing: the customer sees it for replies; a note's typing is marked so it stays among staff.
let typing = false;
let typingTimer = null;
function stopTyping() {
  if (typing) realtime.send("typing:stop", { chat_id: chatId });
  typing = false;
  clearTimeout(typingTimer);
}
input.addEventListener("input", () => {
  autosize();
  if (input.value.trim()) {
    if (!typing) {
      typing = true;
      realtime.send("typing:start", mode === "note" ? { chat_id: chatId, note: true } : { chat_id: chatId });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  } else stopTyping();
  updateCanned();
});

// Canned responses: "/" and a shortcut, a popup driven by the keyboard.
let cannedItems = [];
let cannedIndex = 0;
let cannedQuery = null;
let cannedTimer = null;

function cannedToken() {
  const before = input.value.slice(0, input.selectionStart);
  const match = /(^|\s)\/([^\s/]*)$/.exec(before);
  return match ? { term: match[2], start: before.length - match[2].length - 1 } : null;
}

function closeCanned() {
  cannedBox.hidden = true;
  cannedItems = [];
  cannedQuery = null;
}

function updateCanned() {
  const token = cannedToken();
  if (!token) return closeCanned();
  if (token.term === cannedQuery) return;
  cannedQuery = token.term;
  clearTimeout(cannedTimer);
  cannedTimer = setTimeout(async () => {
    try {
      const page = await api(`/api/canned-responses?q=${encodeURIComponent(token.term)}&page_size=8`);
      if (cannedQuery !== token.term) return;
      // Shortcuts that start with what was typed first, then matches in the text.
      const term = token.term.toLowerCase();
      const rank = (item) => (item.shortcut.toLowerCase().startsWith(term) ? 0 : 1);
      cannedItems = (page.results || []).sort((a, b) => rank(a) - rank(b)).slice(0, 8);
      cannedIndex = 0;
      renderCanned();
    } catch {
      closeCanned();
    }
  }, 120);
}

function renderCanned() {
  cannedBox.replaceChildren();
  if (!cannedItems.length) {
    cannedBox.append(el("div", "cv-muted cv-pad", gettext("No canned response matches.")));
    cannedBox.hidden = false;
    return;
  }
  cannedItems.forEach((item, index) => {
    const row = el("div", "cv-canned-item");
    row.setAttribute("role", "option");
    row.setAttribute("aria-selected", String(index === cannedIndex));
    row.dataset.index = index;
    row.append(el("span", "cv-canned-key", `/${item.shortcut}`), el("span", "cv-canned-text", item.text));
    cannedBox.append(row);
  });
  cannedBox.hidden = false;
  cannedBox.children[cannedIndex]?.scrollIntoView({ block: "nearest" });
}

function insertCanned(item) {
  const token = cannedToken();
  if (!token) return closeCanned();
  const end = input.selectionStart;
  input.value = input.value.slice(0, token.start) + item.text + input.value.slice(end);
  const caret = token.start + item.text.length;
  input.setSelectionRange(caret, caret);
  closeCanned();
  autosize();
  input.focus();
}

cannedBox.addEventListener("mousedown", (event) => {
  const row = event.target.closest("[data-index]");
  if (!row) return;
  event.preventDefault();
  insertCanned(cannedItems[Number(row.dataset.index)]);
});

input.addEventListener("keydown", (event) => {
  if (!cannedBox.hidden && cannedItems.length) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      cannedIndex = (cannedIndex + step + cannedItems.length) % cannedItems.length;
      renderCanned();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertCanned(cannedItems[cannedIndex]);
      return;
    }
  }
  if (event.key === "Escape" && !cannedBox.hidden) {
    event.preventDefault();
    closeCanned();
    return;
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    composer.requestSubmit();
  }
});

// Suggestions: reply ideas for the conversation so far; a click puts one into the composer.
const suggestionsBox = $("cv-suggestions");
$("cv-suggest").addEventListener("click", async () => {
  if (!suggestionsBox.hidden) {
    suggestionsBox.hidden = true;
    return;
  }
  suggestionsBox.replaceChildren(el("span", "cv-muted", gettext("Thinking…")));
  suggestionsBox.hidden = false;
  try {
    const found = await api(`/api/chats/${chatId}/suggestions?limit=3`);
    suggestionsBox.replaceChildren();
    if (!found.suggestions.length) suggestionsBox.append(el("span", "cv-muted", gettext("No suggestions for this conversation yet.")));
    for (const s of found.suggestions) {
      const chip = el("button", "cv-suggestion", s.text);
      chip.type = "button";
      chip.title = s.source === "canned" ? gettext("From a canned response") : s.source === "ai" ? gettext("Suggested by AI") : gettext("From past replies");
      chip.addEventListener("click", () => {
        input.value = input.value ? `${input.value.trimEnd()} ${s.text}` : s.text;
        suggestionsBox.hidden = true;
        autosize();
        input.focus();
        input.dispatchEvent(new Event("input"));
      });
      suggestionsBox.append(chip);
    }
  } catch (error) {
    suggestionsBox.replaceChildren(el("span", "cv-error", errorText(error)));
  }
});

// Keyboard: "r" replies, "n" writes a note (outside text fields).
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select, [contenteditable]") || event.metaKey || event.ctrlKey || event.altKey) return;
  if (event.key === "r") setMode("reply");
  else if (event.key === "n") setMode("note");
  else return;
  event.preventDefault();
});

// --- Live -----------------------------------------------------------------------------------

realtime.on("message:new", (data) => upsert([data]));
realtime.on("message:updated", (data) => upsert([data]));
realtime.on("messages:read", (data) => {
  if (data.chat_id !== chatId || !customer || data.user_id !== customer.id) return;
  customerReadUpTo = Math.max(customerReadUpTo, data.up_to || 0);
  refreshTicks();
});
realtime.on("typing:start", (data) => onTyping(data, true));
realtime.on("typing:stop", (data) => onTyping(data, false));
realtime.on("chat:updated", (data) => setChat(data));
realtime.on("chat:viewers", (data) => {
  if (data.chat_id !== chatId) return;
  viewers = data.viewers || [];
  renderPresence();
});
realtime.on("user:status", (data) => {
  if (customer && data.user_id === customer.id) renderOnline(data.is_online);
});
realtime.on("order:updated", (order) => {
  if (!customer || !order.customer || order.customer.id !== customer.id) return;
  orders.set(order.id, { ...orders.get(order.id), ...order });
  renderOrders();
});
realtime.on("status", ({ state }) => {
  if (state === "reconnecting") showNotice(gettext("Connection lost. Reconnecting…"), "offline");
  else if (state === "signed_out") showNotice(gettext("You were signed out. Reload the page to sign in again."), "offline");
  else if (state === "open" && notice.classList.contains("cv-notice-offline")) notice.hidden = true;
});
realtime.on("open", async ({ reconnected, resumed }) => {
  // After every (re)connect: whatever arrived while the socket was not there, unless the
  // server replayed it (resumed).
  if (!resumed) {
    try {
      await catchUp(chatId, lastId, (items) => upsert(items));
    } catch (error) {
      showNotice(interpolate(gettext("Could not catch up: %(reason)s"), { reason: errorText(error) }));
    }
    if (reconnected) refetchChat();
  }
  markRead();
});

// --- Start ----------------------------------------------------------------------------------

renderHeader();
renderWindow();
renderOnline(customer ? customer.is_online : false);
renderOrders();
renderEarlier();
upsert(boot.messages);
$("cv-older").hidden = !hasMore;
scrollToBottom();
realtime.join(chatId).catch(() => {});
if (realtime.connected) markRead();
if (window.matchMedia("(min-width: 1100px)").matches) {
  $("conversation").classList.add("cv-side-open");
  $("cv-side-toggle").setAttribute("aria-expanded", "true");
}
input.focus();
window.__cvReady = true; // the page is wired up (browser tests wait for it)
