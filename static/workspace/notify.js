// Tells of new customer messages in Mine and Unassigned: a counter in the tab title, the unread
// total beside "Inbox" in the navigation, and (when switched on) a short beep made with
// WebAudio. The switch is remembered in localStorage.
import { api } from "../crm/realtime.js";
import { me, realtime } from "./session.js";
import { gettext } from "../crm/i18n.js";

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

// The Inbox link's badge: my unread total.
const navCount = document.querySelector("[data-unread-total]");
function showTotal(total) {
  if (!navCount) return;
  navCount.textContent = total > 99 ? "99+" : String(total);
  navCount.hidden = !total;
}
realtime.on("unread:updated", ({ total }) => showTotal(total));
async function loadTotal() {
  try {
    showTotal((await api("/api/unread/counts")).total);
  } catch {
    /* the badge stays as it was */
  }
}
realtime.on("open", loadTotal);

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
