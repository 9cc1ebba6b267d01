// Your data: what Switchyard keeps about the account and for how long, an export of it, and
// deleting the account. The export and the deletion are served by the privacy API; until an
// operator's build has it, the buttons say so instead of failing silently.

import { api, html, mount, t, toast } from "../core.js";

export async function render(main) {
  mount(main, html`
    <h1>${t("nav.data")}</h1>
    <section class="card stack">
      <h2>${t("data.what_we_keep")}</h2>
      <ul>
        <li>${t("data.keep_account")}</li>
        <li>${t("data.keep_log")}</li>
        <li>${t("data.keep_ledger")}</li>
        <li>${t("data.keep_no_prompts")}</li>
      </ul>
    </section>
    <section class="card stack">
      <h2>${t("data.export")}</h2><p>${t("data.export_hint")}</p>
      <p><a class="button" id="export" href="/api/me/export" download>${t("data.export_button")}</a></p>
    </section>
    <section class="card stack danger-zone">
      <h2>${t("data.delete")}</h2><p>${t("data.delete_hint")}</p>
      <p><button type="button" class="danger" id="delete">${t("data.delete_button")}</button></p>
    </section>`);
  // The export is a plain download: GET /api/me/export streams a ZIP with the session cookie
  // (a GET needs no CSRF token), so the browser saves it as it arrives.
  main.querySelector("#delete").addEventListener("click", async () => {
    if (!confirm(t("data.delete_confirm"))) return;
    try {
      await api("DELETE", "/api/account");
      location.assign("/app/signin");
    } catch (error) {
      toast(error.status === 404 ? t("data.not_available") : error.message, "error");
    }
  });
}
