// Boot and routing: who is signed in, which language, which page; then the page fills <main>.

import { api, html, LANGUAGES, loadLanguage, mount, navigate, session, showError, t } from "./core.js";

// Path under /app/ → the page module, its title, and who may open it:
// "anon" pages are for signed-out visitors, "user" pages need a session, "admin" an admin.
const ROUTES = {
  signin: { page: "auth.js", fn: "signin", title: "auth.signin", access: "anon" },
  signup: { page: "auth.js", fn: "signup", title: "auth.signup", access: "anon" },
  forgot: { page: "auth.js", fn: "forgot", title: "auth.forgot", access: "anon" },
  "reset-password": { page: "auth.js", fn: "reset", title: "auth.reset", access: "any" },
  "verify-email": { page: "auth.js", fn: "verify", title: "auth.verify", access: "any" },
  "confirm-email": { page: "auth.js", fn: "confirmEmail", title: "auth.confirm_email", access: "any" },
  "": { page: "overview.js", fn: "render", title: "nav.overview", access: "user" },
  keys: { page: "keys.js", fn: "render", title: "nav.keys", access: "user" },
  usage: { page: "usage.js", fn: "render", title: "nav.usage", access: "user" },
  billing: { page: "billing.js", fn: "render", title: "nav.billing", access: "user" },
  models: { page: "models.js", fn: "render", title: "nav.models", access: "user" },
  playground: { page: "playground.js", fn: "render", title: "nav.playground", access: "user" },
  settings: { page: "settings.js", fn: "render", title: "nav.settings", access: "user" },
  data: { page: "data.js", fn: "render", title: "nav.data", access: "user" },
  "admin/users": { page: "admin.js", fn: "users", title: "nav.admin_users", access: "admin" },
  "admin/catalog": { page: "catalog.js", fn: "render", title: "nav.admin_catalog", access: "admin" },
  "admin/providers": { page: "admin.js", fn: "providers", title: "nav.admin_providers", access: "admin" },
  "admin/codes": { page: "admin.js", fn: "codes", title: "nav.admin_codes", access: "admin" },
  "admin/system": { page: "system.js", fn: "render", title: "nav.admin_system", access: "admin" },
};

const NAV = ["", "keys", "usage", "billing", "models", "playground", "settings", "data"];
const ADMIN_NAV = ["admin/system", "admin/users", "admin/catalog", "admin/providers", "admin/codes"];

function currentRoute() {
  const path = location.pathname.replace(/^\/app\/?/, "").replace(/\/$/, "");
  return { name: path, route: ROUTES[path] };
}

async function whoAmI() {
  try {
    const me = await api("GET", "/api/auth/me");
    session.me = me.user;
    session.profile = me.profile;
    session.csrf = me.csrf_token;
    session.privacy = me.privacy ?? null;
  } catch {
    session.me = null;
    session.profile = null;
    session.csrf = null;
    session.privacy = null;
  }
}

function chooseLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && asked in LANGUAGES) return asked;
  return session.profile?.language || document.documentElement.lang || "en";
}

function layout(name) {
  const link = (to) => html`<li><a href="/app/${to}" data-link ${to === name ? html`aria-current="page"` : ""}>${t(ROUTES[to].title)}</a></li>`;
  const admin = session.me?.role === "admin";
  return html`
    <a class="skip" href="#main">${t("nav.skip")}</a>
    <header class="top">
      <a class="brand" href="/app/" data-link><img src="/assets/icon.svg" alt="" width="24" height="24"> Switchyard</a>
      <button class="menu" type="button" aria-expanded="false" aria-controls="nav">${t("nav.menu")}</button>
      <span class="who">${session.me.email}</span>
      <button class="link" type="button" id="signout">${t("auth.signout")}</button>
    </header>
    <div class="frame">
      <nav id="nav" aria-label="${t("nav.label")}">
        <ul>${NAV.map(link)}</ul>
        ${admin ? html`<h2 class="nav-head">${t("nav.operator")}</h2><ul>${ADMIN_NAV.map(link)}</ul>` : ""}
      </nav>
      <main id="main" tabindex="-1"></main>
    </div>
    ${footer()}`;
}

function footer() {
  const here = location.pathname;
  return html`<footer class="foot"><nav aria-label="${t("nav.languages")}">${Object.entries(LANGUAGES).map(
    ([code, label]) => html`<a href="${here}?lang=${code}" lang="${code}" ${code === session.lang ? html`aria-current="true"` : ""}>${label}</a> `,
  )}</nav></footer>`;
}

async function show() {
  const { name, route } = currentRoute();
  const app = document.getElementById("app");
  if (!route) {
    mount(app, html`<main id="main" class="narrow"><h1>${t("error.not_found_title")}</h1><p><a href="/app/" data-link>${t("nav.overview")}</a></p></main>`);
    return;
  }
  const signedIn = session.me !== null;
  if (route.access === "anon" && signedIn) return navigate("/app/");
  if ((route.access === "user" || route.access === "admin") && !signedIn) {
    return navigate(`/app/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  document.title = `${t(route.title)} · Switchyard`;
  let main;
  if (signedIn && route.access !== "anon" && route.access !== "any") {
    mount(app, layout(name));
    main = document.getElementById("main");
    if (route.access === "admin" && session.me.role !== "admin") {
      mount(main, html`<h1>${t(route.title)}</h1><p>${t("error.admin_only")}</p>`);
      return;
    }
  } else {
    mount(app, html`<main id="main" class="narrow" tabindex="-1"></main>${footer()}`);
    main = document.getElementById("main");
  }
  try {
    const module = await import(`./pages/${route.page}`);
    await module[route.fn](main, { params: new URLSearchParams(location.search), refresh: boot });
  } catch (error) {
    showError(error);
  }
  bindChrome();
}

function bindChrome() {
  document.getElementById("signout")?.addEventListener("click", async () => {
    try { await api("POST", "/api/auth/signout"); } catch { /* already signed out */ }
    session.me = null;
    session.profile = null;
    session.csrf = null;
    navigate("/app/signin");
  });
  const menu = document.querySelector(".menu");
  menu?.addEventListener("click", () => {
    const open = menu.getAttribute("aria-expanded") !== "true";
    menu.setAttribute("aria-expanded", String(open));
    document.getElementById("nav").classList.toggle("open", open);
  });
}

// Links marked `data-link` navigate without a reload; the rest (downloads, the API) are normal.
document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-link]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || a.target) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", show);
window.addEventListener("switchyard:navigate", show);

// Called at start and after anything that changes who is signed in or their language.
async function boot() {
  await whoAmI();
  const lang = chooseLanguage();
  if (lang !== session.lang || !Object.keys(session.strings).length) await loadLanguage(lang);
  await show();
}

boot();
