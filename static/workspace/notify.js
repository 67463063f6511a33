// Tells of new customer messages in Mine and Unassigned: a counter in the tab title, the unread
// total beside "Inbox" in the navigation, and (when switched on) a short beep made with
// WebAudio. The switch is remembered in localStorage.
import { api } from "../crm/realtime.js";
import { me, realtime } from "./session.js";
import { gettext } from "../crm/i18n.js";
import { countsForMe, Heard, readHere } from "./unread.js";

const SOUND_KEY = "crm.workspace.sound";
const baseTitle = document.title;
let unseen = 0;
let audio = null;
let lastBeep = 0;

/** chat id → assignee id (null: unassigned; undefined: not known yet). */
const assignees = new Map();

function soundOn() {
  try {
    return localStorage.getItem(SOUND_KEY) === "on";
  } catch {
    return false;
  }
}

function beep() {
  const now = Date.now();
  if (!soundOn() || now - lastBeep < 1500) return;
  lastBeep = now;
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const t = audio.currentTime;
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.type = "sine";
    tone.frequency.setValueAtTime(880, t);
    tone.frequency.exponentialRampToValueAtTime(660, t + 0.18);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
    tone.connect(gain).connect(audio.destination);
    tone.start(t);
    tone.stop(t + 0.25);
  } catch (error) {
    console.warn("notification sound", error);
  }
}

function showTitle() {
  document.title = unseen ? `(${unseen}) ${baseTitle}` : baseTitle;
  document.documentElement.dataset.unseen = String(unseen);
}

function seen() {
  if (document.visibilityState === "visible" && document.hasFocus()) {
    unseen = 0;
    showTitle();
  }
}

async function assigneeOf(chatId) {
  if (assignees.has(chatId)) return assignees.get(chatId);
  try {
    const chat = await api(`/api/chats/${chatId}`);
    // Staff chats are not Mine/Unassigned conversations: remembered as such (undefined).
    assignees.set(chatId, chat.kind !== "support" ? undefined : chat.assignee ? chat.assignee.id : null);
    return assignees.get(chatId);
  } catch {
    return undefined;
  }
}

function remember(chat) {
  if (chat && chat.kind === "support") assignees.set(chat.id, chat.assignee ? chat.assignee.id : null);
}

realtime.on("chat:new", remember);
realtime.on("chat:updated", remember);

realtime.on("message:new", async (message) => {
  countUnread(message);
  if (message.kind === "system" || message.kind === "note" || message.automated) return;
  // Only what a customer wrote (automated replies have no sender).
  if (!message.sender || message.sender.role !== "customer") return;
  const assignee = await assigneeOf(message.chat_id);
  if (assignee === undefined || (assignee !== null && assignee !== me.id)) return;
  // Counted even while the page is in view: a focused operator sees it clear at once.
  unseen += 1;
  showTitle();
  beep();
  if (document.visibilityState === "visible" && document.hasFocus()) setTimeout(seen, 4000);
});

// The Inbox link's badge: my unread total over all my chats. connection:established brings it on
// every (re)connect; other people's messages raise it (message:new, the server's rule) unless
// the conversation open here read them at once; my own reads, in any tab, set it
// (unread:updated); a deleted message lowers it when it was unread.
const navCount = document.querySelector("[data-unread-total]");
let total = null; // not known before the first connection:established
const heard = new Heard();
function showTotal(value) {
  total = Math.max(0, value);
  document.documentElement.dataset.unreadShown = String(total);
  if (!navCount) return;
  navCount.textContent = total > 99 ? "99+" : String(total);
  navCount.hidden = !total;
}
async function loadTotal() {
  try {
    heard.clear();
    showTotal((await api("/api/unread/counts")).total);
  } catch {
    /* the badge stays as it was */
  }
}
async function countUnread(message) {
  if (!countsForMe(message) || (await readHere(message)) || total === null) return;
  heard.add(message);
  showTotal(total + 1);
}
realtime.on("connection:established", ({ unread_total: unreadTotal, resumed }) => {
  // Resumed: the missed events follow and adjust the count this page kept.
  if (resumed && total !== null) return;
  heard.clear();
  if (unreadTotal === null || unreadTotal === undefined) loadTotal();
  else showTotal(unreadTotal);
});
realtime.on("unread:updated", ({ chat_id: chatId, unread_count: count, total: value }) => {
  heard.settle(chatId, count);
  showTotal(value);
});
realtime.on("message:updated", (message) => {
  if (total === null) return;
  const was = heard.deletion(message, total, { overall: true });
  if (was === "unread") showTotal(total - 1);
  else if (was === "unknown") loadTotal();
});

document.addEventListener("visibilitychange", seen);
window.addEventListener("focus", seen);

// The sound switch, beside the user's name.
function soundToggle() {
  const tools = document.getElementById("user-tools");
  if (!tools || tools.querySelector(".sound-toggle")) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "sound-toggle";
  const render = () => {
    const on = soundOn();
    button.setAttribute("aria-pressed", String(on));
    button.title = on ? gettext("Sound on for new messages: click to mute") : gettext("Sound off: click to hear new messages");
    button.innerHTML = `<svg class="ico" aria-hidden="true"><use href="#ico-bell"></use></svg><span class="visually-hidden">${gettext("Sound for new messages")}</span>`;
  };
  button.addEventListener("click", () => {
    try {
      localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
    } catch {
      /* private mode: the switch just does not stick */
    }
    render();
    if (soundOn()) {
      lastBeep = 0;
      beep(); // a sample, and the user gesture that unlocks audio
    }
  });
  render();
  tools.prepend(button);
}
soundToggle();
