// Unread counts in the workspace, kept from the events every page hears. The server sends no
// unread:updated for other people's messages: a page counts them from message:new by the
// server's rule (chats.selectors.counted_messages_q), gets its user's total in
// connection:established, and hears unread:updated only when its user's own count changed by
// their own action (a read or a send in any of their tabs).
import { me } from "./session.js";

/** Does the message count as unread for me? Not a system line, not deleted, not mine (an
 * automated reply has no sender: it counts). Notes count too: the workspace is staff's. */
export function countsForMe(message) {
  return message.kind !== "system" && !message.deleted_at && !(message.sender && message.sender.id === me.id);
}

/** The conversation this page shows and marks read (conversation.js fills it in). */
export const reading = { chatId: null, readUpTo: () => 0 };

/** Did the open conversation mark the message read as it arrived (visible, scrolled to the
 * bottom)? Asked once the event's other handlers have run. */
export async function readHere(message) {
  await Promise.resolve();
  return reading.chatId === message.chat_id && reading.readUpTo() >= message.id;
}

/**
 * The counted messages heard since a chat's count was last known, per chat: all of them still
 * unread (a read keeps only the newest as many as its count says), so a deleted one is known to
 * lower the count; a deleted message not among them lowers it only when the count is larger
 * than what was heard (then only the server knows).
 */
export class Heard {
  constructor() {
    this.ids = new Map(); // chat id → ids, oldest first
    this.deleted = new Set();
  }

  add(message) {
    const ids = this.ids.get(message.chat_id) || [];
    if (!ids.includes(message.id)) ids.push(message.id);
    this.ids.set(message.chat_id, ids);
  }

  /** The chat's count is `count` now (its unread are its newest counted messages). */
  settle(chatId, count) {
    const ids = this.ids.get(chatId);
    if (!ids) return;
    if (count <= 0) this.ids.delete(chatId);
    else this.ids.set(chatId, ids.slice(-count));
  }

  forget(chatId) {
    this.ids.delete(chatId);
  }

  clear() {
    this.ids.clear();
  }

  size(chatId) {
    return (this.ids.get(chatId) || []).length;
  }

  total() {
    let n = 0;
    for (const ids of this.ids.values()) n += ids.length;
    return n;
  }

  /**
   * A message:updated: for a deletion of a message that counted for me (once), "unread" when it
   * was one of the heard ones (now forgotten), "unknown" when it may have been unread, else null.
   * `count` is what the page shows for the message's chat, or for all chats with `overall`.
   */
  deletion(message, count, { overall = false } = {}) {
    if (!message.deleted_at || this.deleted.has(message.id)) return null;
    if (!countsForMe({ ...message, deleted_at: null })) return null;
    this.deleted.add(message.id);
    const ids = this.ids.get(message.chat_id) || [];
    const at = ids.indexOf(message.id);
    if (at !== -1) {
      ids.splice(at, 1);
      return "unread";
    }
    return count > (overall ? this.total() : this.size(message.chat_id)) ? "unknown" : null;
  }
}
