// Signing in and out of accounts: sign-in (password or an OpenID Connect provider), sign-up,
// the emailed links (verify the address, reset the password), and asking for a reset.

import { api, formError, html, mount, navigate, onSubmit, raw, session, showError, signInProviders, t, tCode } from "../core.js";

const field = (name, label, type = "text", extra = "") => html`
  <label for="${name}">${label}</label>
  <input id="${name}" name="${name}" type="${type}" ${raw(extra)} required>`;

// Only same-site paths under /app/ are followed after sign-in, never another origin.
function nextPath(params) {
  const next = params.get("next") || "/app/";
  return next.startsWith("/app/") && !next.startsWith("//") ? next : "/app/";
}

export async function signin(main, { params, refresh }) {
  const idps = await signInProviders();
  const problem = params.get("error");
  mount(main, html`
    <h1>${t("auth.signin")}</h1>
    ${problem ? html`<p class="notice error" role="alert">${tCode("oidc", problem, t("oidc.failed"))}</p>` : ""}
    ${params.get("deleted") ? html`<p class="notice" role="status">${t("auth.deleted_notice")}</p>` : ""}
    <form id="signin" class="card stack" novalidate>
      ${field("email", t("auth.email"), "email", 'autocomplete="username"')}
      ${field("password", t("auth.password"), "password", 'autocomplete="current-password"')}
      ${formError()}
      <p id="restore-offer" hidden><button type="button" id="restore">${t("auth.restore_button")}</button></p>
      <button type="submit" class="primary">${t("auth.signin")}</button>
      <p class="row"><a href="/app/forgot" data-link>${t("auth.forgot")}</a>
         <a href="/app/signup" data-link>${t("auth.no_account")}</a></p>
    </form>
    ${idps.length ? html`<div class="card stack"><p>${t("auth.or")}</p>${idps.map(
      (p) => html`<button type="button" class="idp" data-idp="${p.id}">${t("auth.continue_with", { name: p.name })}</button>`,
    )}</div>` : ""}`);
  const form = main.querySelector("#signin");
  const offer = main.querySelector("#restore-offer");
  const signIn = async (data) => {
    await api("POST", "/api/auth/signin", { email: data.get("email"), password: data.get("password") });
    history.replaceState(null, "", nextPath(params));
    await refresh();
  };
  onSubmit(form, async (data) => {
    offer.hidden = true;
    try {
      await signIn(data);
    } catch (error) {
      // An account scheduled for deletion: offer to keep it, with the same credentials.
      if (error.code === "account_pending_deletion") offer.hidden = false;
      throw error;
    }
  });
  main.querySelector("#restore").addEventListener("click", async () => {
    const data = new FormData(form);
    try {
      await api("POST", "/api/auth/restore", { email: data.get("email"), password: data.get("password") });
      offer.hidden = true;
      await signIn(data);
    } catch (error) {
      showError(error, form);
    }
  });
  main.querySelectorAll("[data-idp]").forEach((button) =>
    button.addEventListener("click", async () => {
      const { url } = await api("POST", `/api/auth/oidc/${encodeURIComponent(button.dataset.idp)}/start`, { purpose: "signin" });
      location.assign(url);
    }),
  );
}

export async function signup(main, { params, refresh }) {
  // Once terms are published, signing up means accepting the versions in effect.
  let terms = [];
  try {
    terms = (await api("GET", "/api/terms")).data.filter((k) => k.current);
  } catch {
    terms = [];
  }
  const link = (k) => k.current.url ?? "/privacy";
  mount(main, html`
    <h1>${t("auth.signup")}</h1>
    <form id="signup" class="card stack" novalidate>
      ${field("email", t("auth.email"), "email", 'autocomplete="email"')}
      ${field("password", t("auth.password"), "password", 'autocomplete="new-password" minlength="10" aria-describedby="pw-hint"')}
      <p id="pw-hint" class="hint">${t("auth.password_hint")}</p>
      <label for="referral_code">${t("auth.referral")}</label>
      <input id="referral_code" name="referral_code" value="${params.get("ref") ?? ""}" autocomplete="off">
      ${terms.length ? html`<label class="check"><input type="checkbox" id="accept_terms" name="accept_terms" required>
        ${t("auth.accept_terms")} ${terms.map((k) => html`<a href="${link(k)}" target="_blank" rel="noopener">${t(`terms.${k.kind}`)} ${k.current.version}</a> `)}</label>` : ""}
      ${formError()}
      <button type="submit" class="primary">${t("auth.create_account")}</button>
      <p><a href="/app/signin" data-link>${t("auth.have_account")}</a></p>
    </form>`);
  onSubmit(main.querySelector("#signup"), async (data) => {
    const body = { email: data.get("email"), password: data.get("password") };
    if (data.get("referral_code")) body.referral_code = data.get("referral_code");
    if (data.get("accept_terms")) body.accept_terms = true;
    await api("POST", "/api/auth/signup", body);
    history.replaceState(null, "", "/app/");
    await refresh();
  });
}

export async function forgot(main) {
  mount(main, html`
    <h1>${t("auth.forgot")}</h1>
    <form id="forgot" class="card stack" novalidate>
      <p>${t("auth.forgot_intro")}</p>
      ${field("email", t("auth.email"), "email", 'autocomplete="email"')}
      ${formError()}
      <button type="submit" class="primary">${t("auth.send_link")}</button>
      <p class="notice" id="sent" role="status" hidden>${t("auth.link_sent")}</p>
    </form>`);
  onSubmit(main.querySelector("#forgot"), async (data) => {
    await api("POST", "/api/auth/reset/request", { email: data.get("email") });
    main.querySelector("#sent").hidden = false;
  });
}

export async function reset(main, { params }) {
  mount(main, html`
    <h1>${t("auth.reset")}</h1>
    <form id="reset" class="card stack" novalidate>
      ${field("password", t("auth.new_password"), "password", 'autocomplete="new-password" minlength="10"')}
      <p class="hint">${t("auth.password_hint")}</p>
      ${formError()}
      <button type="submit" class="primary">${t("auth.set_password")}</button>
    </form>`);
  onSubmit(main.querySelector("#reset"), async (data) => {
    await api("POST", "/api/auth/reset", { token: params.get("token") ?? "", password: data.get("password") });
    session.me = null;
    navigate("/app/signin?reset=1");
  });
}

export async function verify(main, { params }) {
  mount(main, html`<h1>${t("auth.verify")}</h1><p id="verify-state" role="status">${t("common.working")}</p>`);
  const state = main.querySelector("#verify-state");
  try {
    await api("POST", "/api/auth/verify", { token: params.get("token") ?? "" });
    state.textContent = t("auth.verified");
    state.className = "notice ok";
    main.append(document.createRange().createContextualFragment(
      String(html`<p><a href="/app/" data-link>${t("nav.overview")}</a></p>`),
    ));
  } catch (error) {
    state.textContent = error.message;
    state.className = "notice error";
  }
}

// The link mailed to a new address: applies the change of the account's email.
export async function confirmEmail(main, { params }) {
  mount(main, html`<h1>${t("auth.confirm_email")}</h1><p id="confirm-state" role="status">${t("common.working")}</p>`);
  const state = main.querySelector("#confirm-state");
  try {
    const done = await api("POST", "/api/auth/email/confirm", { token: params.get("token") ?? "" });
    state.textContent = t("auth.email_changed", { email: done.email });
    state.className = "notice ok";
    // Not a refresh: it would run this page again, and the link works once.
    if (session.me) session.me.email = done.email;
  } catch (error) {
    state.textContent = error.message;
    state.className = "notice error";
  }
}
