// One conversation row, the same markup as templates/workspace/_inbox_row.html.
import { me } from "./session.js";
import { ago, avatarHue, escapeHtml, initials, messagePreview } from "./format.js";
import { formatDateTime, gettext, interpolate, ngettext } from "../crm/i18n.js";

const KIND_LABELS = { web: gettext("Web cabinet"), telegram: "Telegram", whatsapp: "WhatsApp", api: gettext("API channel") };
const PRIORITY_LABELS = { low: gettext("Low"), normal: gettext("Normal"), high: gettext("High"), urgent: gettext("Urgent") };
const STATUS_LABELS = { open: gettext("Open"), pending: gettext("Pending"), closed: gettext("Closed") };

function personName(user) {
  if (!user) return "";
  return user.id === me.id ? gettext("You") : user.name;
}

/** One row: the same markup as templates/workspace/_inbox_row.html. */
export function rowHtml(chat) {
  const customer = chat.customer;
  const last = chat.last_message;
  const title = customer ? customer.name || customer.email : chat.name;
  const time = chat.last_activity_at || chat.created_at;
  let preview = `<span class="muted">${escapeHtml(gettext("No messages yet"))}</span>`;
  if (last) {
    let by = "";
    if (last.kind === "note") {
      by = `<span class="note-tag"><svg class="ico"><use href="#ico-note"></use></svg>${escapeHtml(gettext("Note"))}</span> `;
    } else if (last.automated) {
      by = `<span class="by">${escapeHtml(gettext("Automated reply:"))}</span> `;
    } else if (last.sender && (!customer || last.sender.id !== customer.id)) {
      by = `<span class="by">${escapeHtml(personName(last.sender))}:</span> `;
    }
    preview = by + escapeHtml(messagePreview(last));
  }
  const inbox = chat.inbox
    ? `<span class="chan chan-${escapeHtml(chat.inbox.kind)}" title="${escapeHtml(chat.inbox.name)} · ${escapeHtml(KIND_LABELS[chat.inbox.kind] || chat.inbox.kind)}"><svg class="ico"><use href="#ico-${escapeHtml(chat.inbox.kind)}"></use></svg><span class="chan-label">${escapeHtml(KIND_LABELS[chat.inbox.kind] || chat.inbox.kind)}</span></span>`
    : "";
  const assignee = chat.assignee
    ? `<span class="assignee"><span class="avatar avatar-xs" style="--hue:${avatarHue(chat.assignee.id)}" aria-hidden="true">${escapeHtml(initials(chat.assignee.name))}</span>${escapeHtml(personName(chat.assignee))}</span>`
    : `<span class="assignee is-none">${escapeHtml(gettext("No assignee"))}</span>`;
  const unread = chat.unread_count || 0;
  return `<li class="row${unread ? " is-unread" : ""}" data-chat-id="${chat.id}">
  <a class="row-link" href="/admin/inbox/${chat.id}/">
    <span class="avatar${customer && customer.is_online ? " is-online" : ""}" data-user-id="${customer ? customer.id : ""}" style="--hue:${avatarHue(customer ? customer.id : "")}" aria-hidden="true">${escapeHtml(initials(customer ? customer.name || customer.email : ""))}</span>
    <span class="row-main">
      <span class="row-top">
        <span class="row-name">${escapeHtml(title)}</span>
        ${inbox}
        <time class="row-time" datetime="${escapeHtml(time)}" title="${escapeHtml(formatDateTime(new Date(time), { dateStyle: "medium", timeStyle: "short" }))}">${escapeHtml(ago(time))}</time>
      </span>
      <span class="row-preview${last && last.kind === "system" ? " is-system" : ""}">${chat.subject ? `<span class="row-subject">${escapeHtml(chat.subject)}</span><span class="sep"> · </span>` : ""}${preview}</span>
      <span class="row-meta">
        <span class="prio prio-${escapeHtml(chat.priority)}" title="${escapeHtml(gettext("Priority"))}"><svg class="ico"><use href="#ico-flag"></use></svg>${escapeHtml(PRIORITY_LABELS[chat.priority] || chat.priority)}</span>
        ${chat.status !== "open" ? `<span class="state state-${escapeHtml(chat.status)}">${escapeHtml(STATUS_LABELS[chat.status] || chat.status)}</span>` : ""}
        ${assignee}
        <span class="unread-badge" aria-label="${escapeHtml(interpolate(ngettext("%(count)s unread message", "%(count)s unread messages", unread), { count: unread }))}"${unread ? "" : " hidden"}>${unread}</span>
      </span>
    </span>
  </a>
</li>`;
}

export function rowElement(chat) {
  const template = document.createElement("template");
  template.innerHTML = rowHtml(chat).trim();
  return template.content.firstElementChild;
}

