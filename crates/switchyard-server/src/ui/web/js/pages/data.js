// Your data: what Switchyard keeps about the account and for how long (the server's live
// retention windows), the account's own shorter windows, an export of it, and deleting the
// account (with the password; docs/privacy.md).

import { api, formError, html, mount, onSubmit, t, toast } from "../core.js";

export async function render(main) {
  const privacy = await api("GET", "/api/account/privacy");
  const platform = privacy.retention.platform;
  const own = privacy.retention.account;
  const effective = privacy.retention.effective;
  const days = (name) => html`<input id="${name}" name="${name}" type="number" min="1" max="${platform[name]}"
      value="${own[name] ?? ""}" placeholder="${platform[name]}" inputmode="numeric">`;
  mount(main, html`
    <h1>${t("nav.data")}</h1>
    <section class="card stack">
      <h2>${t("data.what_we_keep")}</h2>
      <ul id="kept">
        <li>${t("data.keep_account")}</li>
        <li>${t("data.keep_log_days", { days: effective.usage_log_days })}</li>
        <li>${t("data.keep_ip_days", { days: effective.client_ip_days })}</li>
        <li>${t("data.keep_ledger_days", { days: platform.payment_record_days })}</li>
        <li>${t("data.keep_no_prompts")}</li>
      </ul>
      <p><a href="/privacy">${t("data.privacy_page")}</a></p>
    </section>
    <form id="retention" class="card stack" novalidate>
      <h2>${t("data.retention")}</h2><p>${t("data.retention_hint")}</p>
      <label for="usage_log_days">${t("data.usage_log_days", { days: platform.usage_log_days })}</label>
      ${days("usage_log_days")}
      <label for="client_ip_days">${t("data.client_ip_days", { days: platform.client_ip_days })}</label>
      ${days("client_ip_days")}
      ${formError()}
      <button type="submit">${t("common.save")}</button>
    </form>
    <section class="card stack">
      <h2>${t("data.export")}</h2><p>${t("data.export_hint")}</p>
      <p><a class="button" id="export" href="/api/me/export" download>${t("data.export_button")}</a></p>
    </section>
    <form id="delete-account" class="card stack danger-zone" novalidate>
      <h2>${t("data.delete")}</h2>
      <p>${t("data.delete_hint_days", { days: platform.deleted_account_days })}</p>
      <label for="delete-password">${t("data.delete_password")}</label>
      <input id="delete-password" name="password" type="password" autocomplete="current-password">
      <p class="hint">${t("data.delete_password_hint")}</p>
      ${formError()}
      <button type="submit" class="danger" id="delete">${t("data.delete_button")}</button>
    </form>`);
  const number = (value) => (value === "" || value === null ? null : Number(value));
  onSubmit(main.querySelector("#retention"), async (data) => {
    await api("PUT", "/api/account/retention", {
      usage_log_days: number(data.get("usage_log_days")),
      client_ip_days: number(data.get("client_ip_days")),
    });
    toast(t("data.retention_saved"));
    await render(main);
  });
  // The export is a plain download: GET /api/me/export streams a ZIP with the session cookie
  // (a GET needs no CSRF token), so the browser saves it as it arrives.
  onSubmit(main.querySelector("#delete-account"), async (data) => {
    if (!confirm(t("data.delete_confirm_days", { days: platform.deleted_account_days }))) return;
    const password = data.get("password");
    await api("DELETE", "/api/account", password ? { password } : {});
    // A full load: the session has ended, so the app starts signed out.
    location.assign("/app/signin?deleted=1");
  });
}
