// Presentation helpers of the workspace pages, the same rules as workspace/templatetags.
import { formatDateTime, gettext, interpolate } from "../crm/i18n.js";

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


/** "now", "5m", "3h", "2d", then the date (in the page's language). */
export function ago(iso, now = Date.now()) {
  const moment = Date.parse(iso);
  if (!moment) return "";
  const seconds = Math.max(0, (now - moment) / 1000);
  if (seconds < 60) return gettext("now");
  if (seconds < 3600) return interpolate(gettext("%(count)sm"), { count: Math.floor(seconds / 60) });
  if (seconds < 86400) return interpolate(gettext("%(count)sh"), { count: Math.floor(seconds / 3600) });
  if (seconds < 7 * 86400) return interpolate(gettext("%(count)sd"), { count: Math.floor(seconds / 86400) });
  const date = new Date(moment);
  const thisYear = date.getFullYear() === new Date(now).getFullYear();
  return formatDateTime(date, thisYear ? { month: "long", day: "numeric" } : { dateStyle: "long" });
}

/** One line of a message: its text, else its attachments. */
export function messagePreview(message) {
  if (!message) return "";
  if (message.deleted_at) return gettext("Message deleted");
  const text = String(message.text || "").split(/\s+/).filter(Boolean).join(" ");
  if (text) return text.slice(0, 120);
  const names = (message.attachments || []).map((a) => a.name);
  return names.length ? `📎 ${names.join(", ")}` : "";
}

/** A median duration: "42s", "3m 5s", "1h 20m"; "—" without data. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  const units = (format, values) => interpolate(gettext(format), values);
  if (s < 60) return units("%(seconds)ss", { seconds: s });
  if (s < 3600) {
    const rest = s % 60;
    const minutes = Math.floor(s / 60);
    return rest ? units("%(minutes)sm %(seconds)ss", { minutes, seconds: rest }) : units("%(count)sm", { count: minutes });
  }
  return units("%(hours)sh %(minutes)sm", { hours: Math.floor(s / 3600), minutes: Math.floor((s % 3600) / 60) });
}
