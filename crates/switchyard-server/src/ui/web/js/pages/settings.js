// Settings: profile (display name, language), invoice details (company, VAT/GST number),
// password, email verification, and the sign-in identities linked to the account.

import { api, formError, html, LANGUAGES, mount, onSubmit, session, signInProviders, t, tCode, toast, when } from "../core.js";

export async function render(main, { params, refresh }) {
  const [me, billing, identities, providers] = await Promise.all([
    api("GET", "/api/auth/me"),
    api("GET", "/api/billing/profile"),
    api("GET", "/api/auth/identities").catch(() => ({ data: [] })),
    signInProviders(),
  ]);
  const linked = identities.data ?? [];
  const idps = providers;
  const problem = params.get("error");
  const value = (v) => v ?? "";
  mount(main, html`
    <h1>${t("nav.settings")}</h1>
    ${problem ? html`<p class="notice error" role="alert">${tCode("oidc", problem, t("oidc.failed"))}</p>` : ""}
    <form id="profile" class="card stack" novalidate>
      <h2>${t("settings.profile")}</h2>
      <p>${t("auth.email")}: <strong>${me.user.email}</strong> ${me.profile.email_verified
        ? html`<span class="badge on">${t("settings.verified")}</span>`
        : html`<span class="badge off">${t("settings.unverified")}</span> <button type="button" class="link" id="resend">${t("overview.resend")}</button>`}</p>
      <label for="display_name">${t("settings.display_name")}</label>
      <input id="display_name" name="display_name" value="${value(me.profile.display_name)}" maxlength="100" autocomplete="name">
      <label for="language">${t("settings.language")}</label>
      <select id="language" name="language">${Object.entries(LANGUAGES).map(([code, label]) =>
        html`<option value="${code}" ${(me.profile.language ?? session.lang) === code ? html`selected` : ""}>${label}</option>`)}</select>
      ${formError()}
      <button type="submit" class="primary">${t("common.save")}</button>
    </form>
    <form id="invoice-details" class="card stack" novalidate>
      <h2>${t("settings.invoice_details")}</h2>
      <p class="hint">${t("settings.invoice_hint")}</p>
      <label for="b-name">${t("settings.legal_name")}</label><input id="b-name" name="name" value="${value(billing.name)}" autocomplete="name">
      <label for="b-company">${t("settings.company")}</label><input id="b-company" name="company" value="${value(billing.company)}" autocomplete="organization">
      <label for="b-vat">${t("settings.vat")}</label><input id="b-vat" name="vat_id" value="${value(billing.vat_id)}">
      <label for="b-address">${t("settings.address")}</label><textarea id="b-address" name="address" rows="2" autocomplete="street-address">${value(billing.address)}</textarea>
      <label for="b-country">${t("settings.country")}</label><input id="b-country" name="country" value="${value(billing.country)}" maxlength="2" autocomplete="country">
      ${formError()}
      <button type="submit" class="primary">${t("common.save")}</button>
    </form>
    <form id="email-change" class="card stack" novalidate>
      <h2>${t("settings.email")}</h2>
      <p class="hint">${t("settings.email_hint", { email: session.me?.email ?? "" })}</p>
      <label for="new-email">${t("settings.new_email")}</label><input id="new-email" name="email" type="email" autocomplete="email" required>
      <label for="email-password">${t("settings.current_password")}</label><input id="email-password" name="password" type="password" autocomplete="current-password">
      ${formError()}
      <button type="submit">${t("settings.change_email")}</button>
    </form>
    <form id="password" class="card stack" novalidate>
      <h2>${t("settings.password")}</h2>
      <label for="current">${t("settings.current_password")}</label><input id="current" name="current" type="password" autocomplete="current-password">
      <label for="new">${t("auth.new_password")}</label><input id="new" name="new" type="password" autocomplete="new-password" minlength="10" required>
      <p class="hint">${t("settings.password_hint")}</p>
      ${formError()}
      <button type="submit" class="primary">${t("settings.change_password")}</button>
    </form>
    <section class="card stack" id="identities">
      <h2>${t("settings.identities")}</h2>
      ${linked.length ? html`<ul class="plain">${linked.map((i) => html`<li>${i.provider_name ?? i.issuer} · ${i.email ?? i.subject} · ${when(i.created_at, false)}
        <button type="button" class="danger small" data-unlink="${i.id}">${t("settings.unlink")}</button></li>`)}</ul>`
        : html`<p class="empty">${t("settings.no_identities")}</p>`}
      ${idps.map((p) => html`<button type="button" data-link-idp="${p.id}">${t("settings.link_with", { name: p.name })}</button>`)}
    </section>`);

  onSubmit(main.querySelector("#profile"), async (data) => {
    await api("PATCH", "/api/auth/profile", { display_name: data.get("display_name") || null, language: data.get("language") });
    toast(t("common.saved"));
    if (data.get("language") !== session.lang) await refresh();
  });
  onSubmit(main.querySelector("#invoice-details"), async (data) => {
    await api("PUT", "/api/billing/profile", Object.fromEntries(["name", "company", "vat_id", "address", "country"].map((f) => [f, data.get(f) ?? ""])));
    toast(t("common.saved"));
  });
  onSubmit(main.querySelector("#email-change"), async (data) => {
    const password = data.get("password");
    await api("POST", "/api/auth/email", password ? { email: data.get("email"), password } : { email: data.get("email") });
    main.querySelector("#email-change").reset();
    toast(t("settings.email_sent"));
  });
  onSubmit(main.querySelector("#password"), async (data) => {
    const me = await api("POST", "/api/auth/password", { current: data.get("current"), new: data.get("new") });
    // Every session was ended and this one replaced: carry on with its new CSRF token.
    session.csrf = me?.csrf_token ?? session.csrf;
    main.querySelector("#password").reset();
    toast(t("settings.password_changed"));
  });
  main.querySelector("#resend")?.addEventListener("click", async (event) => {
    event.target.disabled = true;
    await api("POST", "/api/auth/verify/request");
    toast(t("auth.link_sent"));
  });
  main.querySelectorAll("[data-unlink]").forEach((b) => b.addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/auth/identities/${b.dataset.unlink}`);
      await render(main, { params: new URLSearchParams(), refresh });
    } catch (error) {
      toast(error.message, "error");
    }
  }));
  main.querySelectorAll("[data-link-idp]").forEach((b) => b.addEventListener("click", async () => {
    const { url } = await api("POST", `/api/auth/oidc/${encodeURIComponent(b.dataset.linkIdp)}/start`, { purpose: "link" });
    location.assign(url);
  }));
}
