// Presentation helpers of the workspace pages, the same rules as workspace/templatetags.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Up to two letters for an avatar. */
export function initials(name) {
  const words = String(name || "").trim().split(/[\s._-]+/).filter(Boolean);
  if (!words.length) return "?";
  return words.slice(0, 2).map((w) => w[0]).join("").toUpperCase();
}

/** A stable hue from an id or a name (the template filter avatar_hue). */
export function avatarHue(value) {
  let total = 0;
  for (const char of String(value ?? "")) total = (total * 31 + char.codePointAt(0)) % 360;
  return total;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "now", "5m", "3h", "2d", then the date. */
export function ago(iso, now = Date.now()) {
  const moment = Date.parse(iso);
  if (!moment) return "";
  const seconds = Math.max(0, (now - moment) / 1000);
  if (seconds < 60) return "now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  if (seconds < 7 * 86400) return `${Math.floor(seconds / 86400)}d`;
  const date = new Date(moment);
  const label = `${MONTHS[date.getMonth()]} ${date.getDate()}`;
  return date.getFullYear() === new Date(now).getFullYear() ? label : `${label}, ${date.getFullYear()}`;
}

/** One line of a message: its text, else its attachments. */
export function messagePreview(message) {
  if (!message) return "";
  if (message.deleted_at) return "Message deleted";
  const text = String(message.text || "").split(/\s+/).filter(Boolean).join(" ");
  if (text) return text.slice(0, 120);
  const names = (message.attachments || []).map((a) => a.name);
  return names.length ? `📎 ${names.join(", ")}` : "";
}

/** A median duration: "42s", "3m 5s", "1h 20m"; "—" without data. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) {
    const rest = s % 60;
    return rest ? `${Math.floor(s / 60)}m ${rest}s` : `${Math.floor(s / 60)}m`;
  }
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
