// The workspace page's one real-time connection and who is signed in, shared by every
// workspace module on the page (ES modules are evaluated once per page).
import { Realtime } from "../crm/realtime.js";

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";

export const me = {
  id: Number(meta("crm-user-id")),
  name: meta("crm-user-name"),
  role: meta("crm-user-role"),
};

export const realtime = new Realtime();
realtime.connect();
