// Drives the real npm clients against running servers, one scenario per run, and prints what
// they saw as one JSON line; the Python tests (chats/tests/test_socketio_e2e.py) judge it.
//   CONFIG='{"urls": [...], "users": {...}, "chats": {...}}' node realtime_check.js <scenario>
// Loopback only; every wait is bounded and the process stops itself after MAX_SECONDS.
'use strict';
const http = require('http');
const { io } = require('socket.io-client');
const WebSocket = require('ws');

const CONFIG = JSON.parse(process.env.CONFIG || '{}');
const MAX_SECONDS = Number(process.env.MAX_SECONDS || 60);
setTimeout(() => { console.error('realtime_check: hard stop'); process.exit(3); }, MAX_SECONDS * 1000).unref();

const [A, B] = CONFIG.urls || [];
const token = (who) => CONFIG.users[who].token;
const userId = (who) => CONFIG.users[who].id;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const opened = [];

// A socket.io client that keeps every event it receives.
function connect(url, auth, { transports = ['websocket'], query } = {}) {
  const socket = io(url, { auth, transports, query, forceNew: true, reconnection: false, timeout: 10000 });
  socket.seen = [];
  socket.onAny((event, data) => socket.seen.push([event, data]));
  opened.push(socket);
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => reject(Object.assign(new Error(err.message), { data: err.data })));
  });
}

async function waitFor(socket, event, match = {}, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const index = socket.seen.findIndex(([name, data]) => name === event
      && Object.entries(match).every(([k, v]) => data && data[k] === v));
    if (index >= 0) return socket.seen.splice(index, 1)[0][1];
    if (Date.now() > end) return null;
    await sleep(20);
  }
}

function count(socket, event, match = {}) {
  return socket.seen.filter(([name, data]) => name === event
    && Object.entries(match).every(([k, v]) => data && data[k] === v)).length;
}

const call = (socket, event, data) => socket.timeout(10000).emitWithAck(event, data);

function httpJson(method, url, body, bearer) {
  const payload = body ? JSON.stringify(body) : '';
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload),
        ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks) || 'null') }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const scenarios = {
  // A send on one server reaches clients on the other, over both Engine.IO transports.
  async across() {
    const support = CONFIG.chats.support;
    const staffA = await connect(A, { token: token('operator') });
    const staffB = await connect(B, { token: token('admin') }, { transports: ['polling'] });
    const customerB = await connect(B, { token: token('customer') });
    const established = await waitFor(staffB, 'connection:established');
    const ack = await call(customerB, 'message:send', { chat_id: support, text: 'over there?', client_id: `c${Date.now()}` });
    const id = ack.ok && ack.data.id;
    const onA = await waitFor(staffA, 'message:new', { id });
    const onB = await waitFor(staffB, 'message:new', { id });
    const reply = await call(staffA, 'message:send', { chat_id: support, text: 'yes, here' });
    const back = await waitFor(customerB, 'message:new', { id: reply.data && reply.data.id });
    await call(staffA, 'chat:join', { chat_id: support });
    await call(customerB, 'chat:join', { chat_id: support });
    await call(customerB, 'typing:start', { chat_id: support });
    const typing = await waitFor(staffA, 'typing:start', { chat_id: support });
    return { established_user: established && established.user.id, ack, on_a: onA, on_b: onB,
      polling: staffB.io.engine.transport.name, reply_back: back, typing };
  },

  // The same client_id sent twice, once to each server: one message, one event.
  async idempotent() {
    const support = CONFIG.chats.support;
    const staff = await connect(B, { token: token('operator') });
    const onA = await connect(A, { token: token('customer') });
    const onB = await connect(B, { token: token('customer') });
    const clientId = `same-${Date.now()}`;
    const first = await call(onA, 'message:send', { chat_id: support, text: 'once', client_id: clientId });
    const second = await call(onB, 'message:send', { chatId: support, content: 'once', clientId });
    await waitFor(staff, 'message:new', { client_id: clientId });
    await sleep(800);
    return { first, second, events: 1 + count(staff, 'message:new', { client_id: clientId }) };
  },

  // Another organization's chat: error acks, and the intruder hears nothing of it.
  async foreign() {
    const support = CONFIG.chats.support;
    const intruder = await connect(A, { token: token('other_admin') });
    const join = await call(intruder, 'chat:join', { chat_id: support });
    const send = await call(intruder, 'message:send', { chat_id: support, text: 'let me in' });
    const read = await call(intruder, 'messages:read', { chat_id: support });
    const customer = await connect(B, { token: token('customer') });
    await call(customer, 'message:send', { chat_id: support, text: 'private' });
    await sleep(800);
    return { join, send, read, intruder_heard: count(intruder, 'message:new') };
  },

  async bad_token() {
    const out = {};
    for (const [name, auth] of [['bad', { token: 'not.a.jwt' }], ['none', {}], ['ticket', { ticket: 'never-issued' }]]) {
      try {
        await connect(A, auth);
        out[name] = { connected: true };
      } catch (err) {
        out[name] = { message: err.message, data: err.data };
      }
    }
    return out;
  },

  async dialects() {
    const { support, direct } = CONFIG.chats;
    // connector (seed 000): the customer's cabinet and the admins' CRM.
    const admin = await connect(A, { token: token('admin'), dialect: 'connector' });
    const customer = await connect(B, { token: token('customer'), dialect: 'connector' });
    const join = await call(customer, 'join-chat', { chatId: support });
    const sent = await call(customer, 'send-message', { chatId: support, content: 'Где заказ?', messageType: 'text', clientId: `k${Date.now()}` });
    const id = sent.data && sent.data.id;
    const connector = {
      join, sent,
      customer_new_message: await waitFor(customer, 'new-message', { id }),
      admin_new_chat_message: await waitFor(admin, 'new-chat-message', { id }),
      admin_spec_names: count(admin, 'message:new'),
    };
    const read = await call(admin, 'mark-read', { chatId: support });
    connector.read = read;
    connector.chat_read = await waitFor(customer, 'chat-read', { chat_id: support });
    customer.close(); // the customer goes offline: the visitor below comes online again
    admin.close();

    // conversations (seed 003): staff talking in a direct conversation.
    const anna = await connect(A, { token: token('admin'), dialect: 'conversations' });
    const boris = await connect(B, { token: token('operator'), dialect: 'conversations' });
    await call(anna, 'join_conversation', { conversationId: direct });
    await call(boris, 'join_conversation', { conversationId: direct });
    await call(anna, 'typing', { conversationId: direct, isTyping: true });
    const typing = await waitFor(boris, 'user_typing', { chat_id: direct });
    const said = await call(anna, 'send_message', { conversationId: direct, content: 'Hi Boris' });
    const newMessage = await waitFor(boris, 'new_message', { id: said.data && said.data.id });
    const markAsRead = await call(boris, 'mark_as_read', { conversationId: direct });
    await waitFor(anna, 'user_offline', { user_id: userId('customer') }, 3000);
    const visitor = await connect(B, { token: token('customer') });
    const online = await waitFor(anna, 'user_online', { user_id: userId('customer') });
    visitor.close();
    const offline = await waitFor(anna, 'user_offline', { user_id: userId('customer') });
    const conversations = { typing, new_message: newMessage, mark_as_read: markAsRead, online, offline,
      spec_names: count(anna, 'user:status') + count(boris, 'message:new') };

    // operator-panel (seed 001) over Socket.IO.
    const panel = connect(B, { token: token('operator'), dialect: 'operator-panel' });
    const socket = await panel;
    const hello = await waitFor(socket, 'connection_established');
    const posted = await httpJson('POST', `${A}/api/chats/${support}/messages`, { text: 'panel?' }, token('customer'));
    const operatorPanel = { hello_user: hello && hello.user.id, posted: posted.status,
      new_message: await waitFor(socket, 'new_message', { id: posted.body.id }) };
    return { connector, conversations, operator_panel: operatorPanel };
  },

  // The operator panel's plain WebSocket at /ws (no slash): {type, data} frames in its names.
  async panel_ws() {
    const support = CONFIG.chats.support;
    const frames = [];
    const url = `${B.replace('http', 'ws')}/ws?token=${token('admin')}`;
    const ws = new WebSocket(url, { origin: B });
    ws.on('message', (raw) => frames.push(JSON.parse(raw.toString())));
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const waitFrame = async (type, pred = () => true, ms = 5000) => {
      const end = Date.now() + ms;
      for (;;) {
        const i = frames.findIndex((f) => f.type === type && pred(f.data));
        if (i >= 0) return frames.splice(i, 1)[0];
        if (Date.now() > end) return null;
        await sleep(20);
      }
    };
    const established = await waitFrame('connection_established');
    const posted = await httpJson('POST', `${A}/api/chats/${support}/messages`, { text: 'to the panel' }, token('customer'));
    const newMessage = await waitFrame('new_message', (d) => d.id === posted.body.id);
    const patched = await httpJson('PATCH', `${A}/api/chats/${support}`, { status: 'pending' }, token('admin'));
    const statusChange = await waitFrame('chat_status_change', (d) => d.id === support);
    const update = await waitFrame('chat_update', (d) => d.id === support);
    ws.close();
    return { established, new_message: newMessage, patched: patched.status, status_change: statusChange, chat_update: update,
      spec_names: frames.filter((f) => f.type === 'message:new' || f.type === 'chat:updated').length };
  },
};

(async () => {
  const name = process.argv[2];
  if (!scenarios[name]) throw new Error(`unknown scenario ${name}; one of ${Object.keys(scenarios)}`);
  const result = await scenarios[name]();
  for (const socket of opened) socket.close();
  console.log(JSON.stringify(result));
  process.exit(0);
})().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
