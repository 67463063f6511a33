// Live support chat for the customer cabinet.
// Protocol: ../shared SPEC section 4. History over HTTP (id cursors), live events over /ws/,
// messages sent over the socket with a client_id so a retry never duplicates; when the socket
// is down they go over HTTP with the same client_id. The connection is ../crm/realtime.js.
import { Realtime, api, catchUp, newClientId } from "../crm/realtime.js";
import { formatDateTime, gettext, interpolate } from "../crm/i18n.js";

const root = document.getElementById("chat");
const chatId = Number(root.dataset.chatId);
const meId = Number(root.dataset.userId);
const list = document.getElementById("messages");
const form = document.getElementById("composer");
const input = document.getElementById("text");
const fileInput = document.getElementById("file");
const statusLine = document.getElementById("status");
const typingLine = document.getElementById("typing");
const olderButton = document.getElementById("older");

const seen = new Map(); // message id -> element
let lastId = 0;
let firstId = null;
let readUpTo = 0; // the staff's read receipt for my messages
const realtime = new Realtime();

function setStatus(text, kind = "") {
  statusLine.textContent = text;
  statusLine.className = `status ${kind}`;
}

function formatTime(iso) {
  return formatDateTime(new Date(iso), { hour: "2-digit", minute: "2-digit" });
}

function renderAttachment(a) {
  const link = document.createElement("a");
  link.href = a.url;
  link.rel = "noopener";
  if (a.kind === "image" && a.thumbnail_url) {
    const img = document.createElement("img");
    img.src = a.thumbnail_url;
    img.alt = a.name;
    img.loading = "lazy";
    link.append(img);
  } else {
    link.textContent = interpolate(gettext("Attachment: %(name)s"), { name: a.name });
  }
  return link;
}

const DRAFT_ID = Number.MAX_SAFE_INTEGER; // a message not yet stored by the server

function tickText(id) {
  if (id === DRAFT_ID) return ` · ${gettext("Sending…")}`;
  return ` · ${id <= readUpTo ? gettext("Seen") : gettext("Sent")}`;
}

function renderMessage(m) {
  let li = seen.get(m.id) || (m.client_id && list.querySelector(`[data-client-id="${CSS.escape(m.client_id)}"]`));
  if (!li) {
    li = document.createElement("li");
  }
  li.dataset.id = m.id;
  if (m.client_id) li.dataset.clientId = m.client_id;
  const mine = m.sender && m.sender.id === meId;
  li.className = `msg ${mine ? "mine" : "theirs"} ${m.kind === "system" ? "system" : ""} ${m.deleted_at ? "deleted" : ""}`;
  li.replaceChildren();
  if (m.automated) {
    // The inbox's own greeting, away message or bot answer: say so, a person has not written it.
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = gettext("Automatic reply");
    li.append(who);
    li.classList.add("automated");
  } else if (!mine && m.sender && m.kind !== "system") {
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = m.sender.name;
    li.append(who);
  }
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = m.deleted_at ? gettext("Message deleted") : m.text; // textContent: never HTML
  li.append(text);
  for (const a of m.attachments || []) li.append(renderAttachment(a));
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = formatTime(m.created_at) + (m.edited_at ? ` · ${gettext("edited")}` : "");
  if (mine) {
    const tick = document.createElement("span");
    tick.className = "tick";
    tick.textContent = tickText(m.id);
    meta.append(tick);
  }
  li.append(meta);
  seen.set(m.id, li);
  return li;
}

function addMessages(messages, { prepend = false } = {}) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const fragment = document.createDocumentFragment();
  for (const m of messages) {
    const existed = seen.has(m.id);
    const li = renderMessage(m);
    if (!existed && !li.isConnected) fragment.append(li);
    lastId = Math.max(lastId, m.id);
    firstId = firstId === null ? m.id : Math.min(firstId, m.id);
  }
  if (prepend) list.prepend(fragment);
  else list.append(fragment);
  if (!prepend && atBottom) list.scrollTop = list.scrollHeight;
}

function markSeen() {
  for (const [id, li] of seen) {
    const tick = li.querySelector(".tick");
    if (tick) tick.textContent = tickText(id);
  }
}

async function loadHistory() {
  const page = await api(`/api/chats/${chatId}/messages?limit=50`);
  const items = page.results || page;
  // Messages before the newest answer from someone else have been read by them.
  for (const m of items) if (m.sender && m.sender.id !== meId) readUpTo = Math.max(readUpTo, m.id - 1);
  addMessages(items);
  olderButton.hidden = !page.has_more;
  list.scrollTop = list.scrollHeight;
}

async function loadOlder() {
  if (firstId === null) return;
  const page = await api(`/api/chats/${chatId}/messages?before=${firstId}&limit=50`);
  const items = page.results || page;
  const height = list.scrollHeight;
  addMessages(items, { prepend: true });
  list.scrollTop = list.scrollHeight - height;
  olderButton.hidden = !page.has_more;
}

function markRead() {
  if (document.visibilityState !== "visible" || !lastId) return;
  realtime.request("messages:read", { chat_id: chatId, up_to: lastId }).catch(() =>
    api(`/api/chats/${chatId}/read`, { method: "POST", json: { up_to: lastId } }).catch(() => {}),
  );
}

realtime.on("status", ({ state }) => {
  if (state === "open") setStatus(gettext("Connected"), "ok");
  else if (state === "reconnecting") setStatus(gettext("Reconnecting…"), "warn");
  else if (state === "signed_out") setStatus(gettext("Signed out. Please sign in again."), "error");
});
realtime.on("open", async ({ resumed }) => {
  // After every (re)connect: the messages that arrived while the socket was not there (the
  // server replayed them when it could resume).
  if (!resumed) await catchUp(chatId, lastId, (items) => addMessages(items)).catch(() => {});
  markRead();
});
const forThisChat = (data) => data && (data.chat_id === undefined || data.chat_id === chatId);
function onMessage(data, type) {
  if (!forThisChat(data)) return;
  addMessages([data]);
  if (type === "message:new" && data.sender && data.sender.id !== meId) {
    // Whoever answers has read what came before (the server moves their read pointer).
    readUpTo = Math.max(readUpTo, data.id - 1);
    markSeen();
  }
  if (type === "message:new") markRead();
}
realtime.on("message:new", (data) => onMessage(data, "message:new"));
realtime.on("message:updated", (data) => onMessage(data, "message:updated"));
realtime.on("messages:read", (data) => {
  if (!forThisChat(data) || data.user_id === meId) return;
  readUpTo = Math.max(readUpTo, data.up_to);
  markSeen();
});
realtime.on("typing:start", (data) => {
  if (forThisChat(data) && data.user_id !== meId) typingLine.textContent = gettext("Support is typing…");
});
realtime.on("typing:stop", (data) => {
  if (forThisChat(data)) typingLine.textContent = "";
});

async function uploadFiles(files) {
  const ids = [];
  for (const file of files) {
    const body = new FormData();
    body.append("file", file);
    body.append("chat_id", String(chatId));
    const media = await api("/api/media", { method: "POST", body });
    ids.push(media.id);
  }
  return ids;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  const files = Array.from(fileInput.files || []);
  if (!text && !files.length) return;
  const clientId = newClientId();
  const draft = { id: DRAFT_ID, client_id: clientId, sender: { id: meId }, kind: "text", text, attachments: [], created_at: new Date().toISOString() };
  const li = renderMessage(draft);
  seen.delete(draft.id);
  li.classList.add("pending");
  list.append(li);
  list.scrollTop = list.scrollHeight;
  input.value = "";
  fileInput.value = "";
  stopTyping();
  try {
    const attachment_ids = files.length ? await uploadFiles(files) : [];
    const payload = { chat_id: chatId, text, kind: "text", attachment_ids, client_id: clientId };
    let message;
    try {
      message = await realtime.request("message:send", payload);
    } catch (error) {
      if (error.code) throw error; // the server refused it: do not retry over HTTP
      message = await api(`/api/chats/${chatId}/messages`, { method: "POST", json: payload });
    }
    li.classList.remove("pending");
    addMessages([message]);
  } catch (error) {
    li.classList.remove("pending");
    li.classList.add("failed");
    li.querySelector(".meta").textContent = interpolate(gettext("Not sent: %(reason)s"), { reason: error.message });
    input.value = input.value || text; // nothing the customer wrote is lost
  }
});

let typingTimer = null;
let typing = false;
function stopTyping() {
  if (typing) realtime.send("typing:stop", { chat_id: chatId });
  typing = false;
  clearTimeout(typingTimer);
}
input.addEventListener("input", () => {
  if (!typing) {
    typing = true;
    realtime.send("typing:start", { chat_id: chatId });
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 3000);
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});
olderButton.addEventListener("click", () => loadOlder().catch((e) => setStatus(e.message, "error")));
document.addEventListener("visibilitychange", markRead);

loadHistory()
  .then(() => {
    realtime.join(chatId);
    realtime.connect();
  })
  .catch((error) => setStatus(interpolate(gettext("Could not load the chat: %(reason)s"), { reason: error.message }), "error"));
