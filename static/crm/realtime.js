// The browser's real-time client, shared by the customer cabinet and the operator workspace.
//
// Protocol: one WebSocket at /ws/ (SPEC section 4). Frames are {type, data, id}; a request
// with an id is answered by {type: "ack", id, data} or {type: "error", id, data: {code, detail}}.
// Every event frame carries a cursor; a reconnect sends the last one (?cursor=, SPEC 6b) and the
// server first replays what was missed, in order. Only when it cannot (connection:established
// says resumed: false) does a page catch up over HTTP (catchUp below). Chats are rejoined after
// every reconnect (done here). Sends carry a client_id, so a retry never stores a second one.

/** The CSRF token Django set as a cookie (session-authenticated requests need it). */
export function csrfToken() {
  const row = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return row ? decodeURIComponent(row.split("=")[1]) : "";
}

/** An error the API answered with: HTTP status, machine code and human detail. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "http_error";
    this.detail = this.message;
    this.body = body;
  }
}

/**
 * fetch() for the JSON API with the session cookie and CSRF header.
 * options: {method, json, body (FormData), headers, signal}. Resolves to the parsed body.
 */
export async function api(path, options = {}) {
  const { json, headers = {}, ...rest } = options;
  const init = {
    credentials: "same-origin",
    ...rest,
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json", ...headers },
  };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const response = await fetch(path, init);
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** A fresh idempotency key for a message. */
export function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/**
 * Everything after `afterId` in a chat, page by page, oldest first: onMessages(list) per page.
 * Resolves to the newest id seen.
 */
export async function catchUp(chatId, afterId, onMessages) {
  let last = afterId;
  for (;;) {
    const page = await api(`/api/chats/${chatId}/messages?after=${last}&limit=200`);
    const items = page.results || [];
    if (items.length) {
      onMessages(items);
      last = Math.max(last, ...items.map((m) => m.id));
    }
    if (!page.has_more || !items.length) return last;
  }
}

const CLOSE_SIGNED_OUT = 4401;
const CLOSE_FLOOD = 4429;

/**
 * One WebSocket connection with typed events, requests with acks, reconnects with jittered
 * exponential backoff, and chats rejoined after each reconnect.
 *
 *   const rt = new Realtime();
 *   rt.on("message:new", (data) => ...);        // server events by type
 *   rt.on("status", ({ state }) => ...);         // connecting | open | reconnecting | signed_out
 *   rt.on("open", ({ reconnected, resumed }) => ...);  // after every (re)connect: unless
 *                                                // resumed (missed events replayed), catch up
 *   rt.connect();
 *   await rt.join(42);                           // rejoined automatically after a reconnect
 *   const message = await rt.request("message:send", {...});
 *   rt.send("typing:start", { chat_id: 42 });    // no ack
 */
export class Realtime {
  constructor({ url = null, maxDelay = 30000 } = {}) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.url = url || `${scheme}://${location.host}/ws/`;
    this.maxDelay = maxDelay;
    this.socket = null;
    this.state = "idle";
    this.handlers = new Map();
    this.pending = new Map();
    this.joined = new Set();
    this.sequence = 0;
    this.attempt = 0;
    this.everOpened = false;
    this.stopped = false;
    this.timer = null;
    this.cursor = null; // the last event's cursor: where a reconnect resumes
    this.rejoined = null;
  }

  /** The socket's URL, with the cursor to resume from. */
  socketUrl() {
    if (!this.cursor) return this.url;
    const separator = this.url.includes("?") ? "&" : "?";
    return `${this.url}${separator}cursor=${encodeURIComponent(this.cursor)}`;
  }

  /** Subscribe to an event type; returns a function that unsubscribes. "*" hears every frame. */
  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(handler);
    return () => this.handlers.get(type).delete(handler);
  }

  emit(type, data, frame) {
    for (const handler of this.handlers.get(type) || []) {
      try {
        handler(data, frame);
      } catch (error) {
        console.error(`realtime handler for ${type} failed`, error);
      }
    }
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  setState(state) {
    this.state = state;
    this.emit("status", { state });
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.timer);
    this.setState(this.everOpened ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.socketUrl());
    this.socket = socket;
    socket.addEventListener("open", () => this.onOpen(socket));
    socket.addEventListener("message", (event) => this.onFrame(event));
    socket.addEventListener("close", (event) => this.onClose(socket, event));
  }

  /** Close for good (no reconnect). */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  onOpen(socket) {
    if (socket !== this.socket) return;
    this.reconnected = this.everOpened;
    this.everOpened = true;
    this.attempt = 0;
    this.setState("open");
    this.rejoined = Promise.all(
      [...this.joined].map((chatId) => this.request("chat:join", { chat_id: chatId }).catch(() => {})),
    );
  }

  /** The server's greeting: whether it replayed what this client missed. */
  async onEstablished(socket, data) {
    if (data && data.cursor) this.cursor = data.cursor;
    await this.rejoined;
    if (socket !== this.socket) return;
    this.emit("open", { reconnected: this.reconnected, resumed: Boolean(data && data.resumed) });
  }

  onFrame(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    const { type, data, id, cursor } = frame;
    if (cursor) this.cursor = cursor;
    if ((type === "ack" || type === "error") && id && this.pending.has(id)) {
      const { resolve, reject, timer } = this.pending.get(id);
      this.pending.delete(id);
      clearTimeout(timer);
      if (type === "ack") resolve(data);
      else reject(Object.assign(new Error((data && data.detail) || "error"), { code: data && data.code, detail: data && data.detail, body: data }));
      return;
    }
    this.emit(type, data, frame);
    this.emit("*", data, frame);
    if (type === "connection:established") this.onEstablished(this.socket, data);
  }

  onClose(socket, event) {
    if (socket !== this.socket) return;
    for (const [, { reject, timer }] of this.pending) {
      clearTimeout(timer);
      reject(new Error("offline"));
    }
    this.pending.clear();
    if (this.stopped) return;
    if (event.code === CLOSE_SIGNED_OUT) {
      this.setState("signed_out");
      return;
    }
    const base = event.code === CLOSE_FLOOD ? 5000 : 500;
    const delay = Math.min(this.maxDelay, base * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    this.setState("reconnecting");
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Send a request and wait for its ack (resolves with its data) or error (rejects). */
  request(type, data, { timeout = 10000 } = {}) {
    if (!this.connected) return Promise.reject(new Error("offline"));
    const id = `r${++this.sequence}`;
    this.socket.send(JSON.stringify({ type, data, id }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("timeout"));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Fire and forget (typing). Dropped while offline. */
  send(type, data) {
    if (this.connected) this.socket.send(JSON.stringify({ type, data }));
  }

  /** Join a chat for typing, read receipts and presence; remembered across reconnects. */
  join(chatId) {
    this.joined.add(chatId);
    return this.connected ? this.request("chat:join", { chat_id: chatId }) : Promise.resolve(null);
  }

  leave(chatId) {
    this.joined.delete(chatId);
    if (this.connected) this.send("chat:leave", { chat_id: chatId });
  }
}
