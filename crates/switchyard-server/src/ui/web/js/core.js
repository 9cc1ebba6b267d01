// The pieces every page uses: the API client, the language catalogue, safe HTML, formats.
// No framework: a page is a function that fills <main> and binds its own events.

// `privacy` is what the deployment allows (`/api/auth/me`), e.g. `{content_logging: "never"}`.
export const session = { me: null, profile: null, csrf: null, privacy: null, lang: "en", strings: {} };

// --- Language -------------------------------------------------------------------------------

export const LANGUAGES = { en: "English", zh: "中文", ru: "Русский", ko: "한국어", tr: "Türkçe" };

export async function loadLanguage(lang) {
  if (!(lang in LANGUAGES)) lang = "en";
  const res = await fetch(`/assets/i18n/${lang}.json`);
  session.strings = await res.json();
  session.lang = lang;
  document.documentElement.lang = lang;
}

// `t("keys.created", {name})`: the string in the current language with `{name}` filled in.
// Every key exists in every catalogue (a unit test checks it), so the fallback to the key
// itself only shows during development.
export function t(key, vars) {
  const text = session.strings[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// The string for a code the server sent (an error code, a ledger kind), or `fallback` when the
// catalogue has none: the server may know codes this build's catalogues do not.
export const tCode = (prefix, code, fallback) => session.strings[`${prefix}.${code}`] ?? fallback;

// --- HTML -----------------------------------------------------------------------------------

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escape = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

class Raw {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}
export const raw = (text) => new Raw(text);

// A tagged template that escapes every interpolated value except `raw(...)` and the results
// of nested `html` templates; arrays are joined. Pages never build markup by concatenation.
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1];
  });
  return raw(out);
}
function render(value) {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escape(value);
}

export function mount(element, template) {
  element.innerHTML = render(template);
}

// --- The API ---------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.param = error.param;
  }
}

// Calls the management API as the signed-in user. State-changing calls carry the session's
// CSRF token; the server also checks `Sec-Fetch-Site`, which the browser sets by itself.
export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["x-csrf-token"] = session.csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// --- Formats ---------------------------------------------------------------------------------

// Money arrives as `{usd: "1.250000000", nanos: 1250000000}` or as plain nanos.
export const nanos = (value) =>
  Number(typeof value === "object" && value !== null ? value.nanos : value ?? 0);

// Money shown in USD with as many decimals as a small amount needs.
// `precise` shows up to six decimals, so a balance visibly moves after a request of a
// fraction of a cent.
export function money(value, precise = false) {
  const usd = nanos(value) / 1e9;
  const abs = Math.abs(usd);
  const digits = abs === 0 || abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return new Intl.NumberFormat(session.lang, {
    style: "currency", currency: "USD",
    minimumFractionDigits: precise ? 2 : digits, maximumFractionDigits: precise ? 6 : digits,
  }).format(usd);
}

export const number = (n) => new Intl.NumberFormat(session.lang).format(Number(n ?? 0));

// Times arrive as unix seconds or milliseconds; both are shown in the reader's time zone.
export function when(value, withTime = true) {
  if (value === null || value === undefined) return "—";
  const ms = value > 1e12 ? value : value * 1000;
  const options = withTime
    ? { dateStyle: "medium", timeStyle: "short" }
    : { dateStyle: "medium" };
  return new Intl.DateTimeFormat(session.lang, options).format(new Date(ms));
}

// --- Feedback --------------------------------------------------------------------------------

export function toast(message, kind = "ok") {
  const box = document.getElementById("toasts");
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.textContent = message;
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

// Shows an API error next to the form that caused it (and moves focus there for screen
// readers and keyboards), or as a toast when there is no form.
export function showError(error, form) {
  const message = error instanceof ApiError || error?.status ? error.message : t("error.network");
  const slot = form?.querySelector(".form-error");
  if (slot) {
    slot.textContent = message;
    slot.hidden = false;
    slot.focus();
  } else {
    toast(message, "error");
  }
}

// Runs a form's submit handler with the button disabled and errors shown in the form.
export function onSubmit(form, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const slot = form.querySelector(".form-error");
    if (slot) slot.hidden = true;
    if (button) button.disabled = true;
    try {
      await handler(new FormData(form));
    } catch (error) {
      showError(error, form);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

export const formError = () => html`<p class="form-error" role="alert" tabindex="-1" hidden></p>`;

// The OpenID Connect providers the server offers, for the sign-in and settings pages; none
// when the list cannot be had (sign-in by password still works).
export async function signInProviders() {
  try {
    return await api("GET", "/api/auth/providers");
  } catch {
    return [];
  }
}

// --- Navigation ------------------------------------------------------------------------------

export function navigate(path) {
  history.pushState(null, "", path);
  window.dispatchEvent(new Event("switchyard:navigate"));
}

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("common.copied"));
  } catch {
    toast(t("common.copy_failed"), "error");
  }
}
