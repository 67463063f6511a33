// Live support chat for the customer cabinet.
// Protocol: ../shared SPEC section 4. History over HTTP (id cursors), live events over /ws/,
// messages sent over the socket with a client_id so a retry never duplicates; when the socket
// is down they go over HTTP with the same client_id.

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

const csrf = () => document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] || "";
const seen = new Map(); // message id -> element
let lastId = 0;
let firstId = null;
let readUpTo = 0; // the staff's read receipt for my messages
let socket = null;
let retry = 0;
let requestSeq = 0;
const pendingAcks = new Map(); // request id -> {resolve, reject, timer}

async function api(path, options = {}) {
  const headers = { "X-CSRFToken": csrf(), ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((body && body.detail) || `HTTP ${response.status}`);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

function setStatus(text, kind = "") {
  statusLine.textContent = text;
  statusLine.className = `status ${kind}`;
}

function formatTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
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
    link.textContent = `Attachment: ${a.name}`;
  }
  return link;
}

const DRAFT_ID = Number.MAX_SAFE_INTEGER; // a message not yet stored by the server

function tickText(id) {
  if (id === DRAFT_ID) return " · Sending…";
  return id <= readUpTo ? " · Seen" : " · Sent";
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
  if (!mine && m.sender && m.kind !== "system") {
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = m.sender.name;
    li.append(who);
  }
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = m.deleted_at ? "Message deleted" : m.text; // textContent: never HTML
  li.append(text);
  for (const a of m.attachments || []) li.append(renderAttachment(a));
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = formatTime(m.created_at) + (m.edited_at ? " · edited" : "");
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

async function catchUp() {
  // After a reconnect: everything after the newest message we have, page by page.
  for (;;) {
    const page = await api(`/api/chats/${chatId}/messages?after=${lastId}&limit=200`);
    const items = page.results || page;
    addMessages(items);
    if (!page.has_more || !items.length) break;
  }
}

function markRead() {
  if (document.visibilityState !== "visible" || !lastId) return;
  send("messages:read", { chat_id: chatId, up_to: lastId }).catch(() =>
    api(`/api/chats/${chatId}/read`, { method: "POST", json: { up_to: lastId } }).catch(() => {}),
  );
}

function send(type, data, { ack = true } = {}) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.reject(new Error("offline"));
  const id = ack ? `r${++requestSeq}` : undefined;
  socket.send(JSON.stringify({ type, data, id }));
  if (!ack) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pendingAcks.delete(id);
      reject(new Error("timeout"));
    }, 10000);
    pendingAcks.set(id, { resolve, reject, timer });
  });
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/`);
  socket.addEventListener("open", async () => {
    retry = 0;
    setStatus("Connected", "ok");
    await send("chat:join", { chat_id: chatId }).catch(() => {});
    await catchUp().catch(() => {});
    markRead();
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    const { type, data, id } = frame;
    if ((type === "ack" || type === "error") && id && pendingAcks.has(id)) {
      const pending = pendingAcks.get(id);
      pendingAcks.delete(id);
      clearTimeout(pending.timer);
      if (type === "ack") pending.resolve(data);
      else pending.reject(Object.assign(new Error(data.detail), { body: data }));
      return;
    }
    if (!data || (data.chat_id !== undefined && data.chat_id !== chatId)) return;
    if (type === "message:new" || type === "message:updated") {
      addMessages([data]);
      if (type === "message:new" && data.sender && data.sender.id !== meId) {
        // Whoever answers has read what came before (the server moves their read pointer).
        readUpTo = Math.max(readUpTo, data.id - 1);
        markSeen();
      }
      if (type === "message:new") markRead();
    } else if (type === "messages:read" && data.user_id !== meId) {
      readUpTo = Math.max(readUpTo, data.up_to);
      markSeen();
    } else if (type === "typing:start" && data.user_id !== meId) {
      typingLine.textContent = "Support is typing…";
    } else if (type === "typing:stop") {
      typingLine.textContent = "";
    }
  });
  socket.addEventListener("close", (event) => {
    for (const [, pending] of pendingAcks) pending.reject(new Error("closed"));
    pendingAcks.clear();
    if (event.code === 4401) {
      setStatus("Signed out. Please sign in again.", "error");
      return;
    }
    const delay = Math.min(30000, 500 * 2 ** retry++) * (0.5 + Math.random() / 2);
    setStatus("Reconnecting…", "warn");
    setTimeout(connect, delay);
  });
}

function newClientId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

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
      message = await send("message:send", payload);
    } catch (error) {
      if (error.body) throw error; // the server refused it: do not retry over HTTP
      message = await api(`/api/chats/${chatId}/messages`, { method: "POST", json: payload });
    }
    li.classList.remove("pending");
    addMessages([message]);
  } catch (error) {
    li.classList.remove("pending");
    li.classList.add("failed");
    li.querySelector(".meta").textContent = `Not sent: ${error.message}`;
    input.value = input.value || text; // nothing the customer wrote is lost
  }
});

let typingTimer = null;
let typing = false;
function stopTyping() {
  if (typing) send("typing:stop", { chat_id: chatId }, { ack: false }).catch(() => {});
  typing = false;
  clearTimeout(typingTimer);
}
input.addEventListener("input", () => {
  if (!typing) {
    typing = true;
    send("typing:start", { chat_id: chatId }, { ack: false }).catch(() => {});
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
  .then(connect)
  .catch((error) => setStatus(`Could not load the chat: ${error.message}`, "error"));
