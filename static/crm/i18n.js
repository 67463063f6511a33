// Translations for the browser scripts. The page embeds its language's catalog as JSON
// ({% js_catalog %}, <script type="application/json" id="crm-i18n">); strings missing from
// it stay in English. Plural forms follow Intl.PluralRules for the page's language.

function readCatalog() {
  const node = document.getElementById("crm-i18n");
  if (!node) return {};
  try {
    return JSON.parse(node.textContent);
  } catch {
    return {};
  }
}

const data = readCatalog();
export const lang = data.lang || document.documentElement.lang || "en";
const catalog = data.catalog || {};
const rules = new Intl.PluralRules(lang);
// The catalog's plural forms in order: English one/other; Russian one/few/many.
const FORM_INDEX = lang.startsWith("ru") ? { one: 0, few: 1, many: 2, other: 1 } : { one: 0, other: 1 };

export function gettext(msgid) {
  const found = catalog[msgid];
  if (found === undefined) return msgid;
  return Array.isArray(found) ? found[0] : found;
}

export function ngettext(singular, plural, count) {
  const found = catalog[singular];
  if (Array.isArray(found)) {
    const index = FORM_INDEX[rules.select(count)] ?? 0;
    return found[Math.min(index, found.length - 1)];
  }
  return count === 1 ? singular : plural;
}

// "%(name)s" placeholders, as in the Python side's catalogs.
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (_match, key) => String(values[key] ?? ""));
}

export function formatNumber(value, options) {
  return new Intl.NumberFormat(lang, options).format(value);
}

export function formatDateTime(date, options) {
  return new Intl.DateTimeFormat(lang, options).format(date);
}
