// API keys: create one (shown once, with a copy button), set its expiry, model allowlist and
// spend limits, and revoke it. Each key shows whether its prompts and completions are stored
// (off unless an operator turned it on); operators switch that here, unless the deployment
// locks it off (`privacy.content_logging = "never"`).

import { api, copy, formError, html, mount, onSubmit, session, t, toast, when } from "../core.js";

// The content-logging cell of a key: a switch for operators, a plain state for everyone else,
// and a disabled switch with the reason when the deployment locks it off.
function contentCell(k) {
  const locked = session.privacy?.content_logging === "never";
  const admin = session.me?.role === "admin";
  const state = k.log_content
    ? html`<span class="badge on">${t("keys.content_on")}</span>`
    : html`<span class="badge off">${t("keys.content_off")}</span>`;
  if (locked) {
    return html`<label class="check"><input type="checkbox" disabled aria-describedby="content-locked"> <span>${t("keys.content_locked")}</span></label>`;
  }
  if (!admin || k.revoked_at) return state;
  return html`<label class="check"><input type="checkbox" data-content="${k.id}" ${k.log_content ? html`checked` : ""} aria-label="${t("keys.content_toggle", { name: k.name || k.prefix })}"> ${state}</label>`;
}

export async function render(main) {
  const [keys, models] = await Promise.all([
    api("GET", "/api/keys"),
    api("GET", "/api/models").catch(() => ({ data: [] })),
  ]);
  // Keys the in-browser playground makes for itself are listed apart, not mixed with the
  // ones people manage.
  const mine = (keys.data ?? []).filter((k) => (k.kind ?? "standard") !== "playground");
  const names = (models.data ?? []).map((m) => m.id);
  mount(main, html`
    <h1>${t("nav.keys")}</h1>
    <div id="created"></div>
    <form id="create-key" class="card stack" novalidate>
      <h2>${t("keys.create")}</h2>
      <label for="key-name">${t("keys.name")}</label>
      <input id="key-name" name="name" maxlength="100" required>
      <label for="key-expires">${t("keys.expires")}</label>
      <input id="key-expires" name="expires" type="date" aria-describedby="key-expires-hint">
      <p id="key-expires-hint" class="hint">${t("keys.expires_hint")}</p>
      <fieldset><legend>${t("keys.models")}</legend>
        <p class="hint">${t("keys.models_hint")}</p>
        <div class="checks">${names.map((m, i) => html`<label class="check"><input type="checkbox" name="model" value="${m}" id="model-${i}"> ${m}</label>`)}</div>
      </fieldset>
      <label for="key-monthly">${t("keys.monthly_limit")}</label>
      <input id="key-monthly" name="monthly" inputmode="decimal" pattern="[0-9]+(\\.[0-9]+)?" placeholder="10.00">
      ${formError()}
      <button type="submit" class="primary">${t("keys.create")}</button>
    </form>
    <section class="card"><h2>${t("keys.yours")}</h2>
    <p class="hint" id="content-locked">${session.privacy?.content_logging === "never" ? t("keys.content_locked") : t("keys.content_hint")}</p>
    ${mine.length ? html`<div class="scroll"><table id="key-list">
      <thead><tr><th>${t("keys.name")}</th><th>${t("keys.prefix")}</th><th>${t("keys.created")}</th><th>${t("keys.expires")}</th><th>${t("keys.models")}</th><th>${t("keys.state")}</th><th>${t("keys.content")}</th><th><span class="sr-only">${t("common.actions")}</span></th></tr></thead>
      <tbody>${mine.map((k) => html`<tr data-key="${k.id}">
        <td>${k.name || "—"}</td><td><code>${k.prefix}…</code></td><td>${when(k.created_at, false)}</td>
        <td>${k.expires_at ? when(k.expires_at, false) : t("keys.never")}</td>
        <td>${k.allowed_models?.length ? k.allowed_models.join(", ") : t("keys.all_models")}</td>
        <td>${k.revoked_at ? html`<span class="badge off">${t("keys.revoked")}</span>` : html`<span class="badge on">${t("keys.active")}</span>`}</td>
        <td>${contentCell(k)}</td>
        <td>${k.revoked_at ? "" : html`<button type="button" class="danger small" data-revoke="${k.id}" aria-label="${t("keys.revoke_named", { name: k.name || k.prefix })}">${t("keys.revoke")}</button>`}</td>
      </tr>`)}</tbody></table></div>` : html`<p class="empty">${t("keys.none")}</p>`}
    </section>`);

  onSubmit(main.querySelector("#create-key"), async (data) => {
    const body = { name: data.get("name").trim() };
    if (data.get("expires")) body.expires_at = Math.floor(Date.parse(`${data.get("expires")}T23:59:59Z`) / 1000);
    const chosen = data.getAll("model");
    if (chosen.length) body.allowed_models = chosen;
    const key = await api("POST", "/api/keys", body);
    if (data.get("monthly")) {
      await api("PUT", `/api/keys/${key.id}/limits`, { monthly_usd: data.get("monthly") });
    }
    await render(main);
    showOnce(main.querySelector("#created"), key);
  });
  main.querySelectorAll("[data-content]").forEach((box) =>
    box.addEventListener("change", async () => {
      const on = box.checked;
      try {
        await api("PATCH", `/api/keys/${box.dataset.content}`, { log_content: on });
        toast(t(on ? "keys.content_on_toast" : "keys.content_off_toast"));
      } catch (error) {
        // Locked meanwhile (the deployment's mode changed) or refused: show the server's word.
        toast(error.message, "error");
      }
      await render(main);
    }),
  );
  main.querySelectorAll("[data-revoke]").forEach((button) =>
    button.addEventListener("click", async () => {
      if (!confirm(t("keys.revoke_confirm"))) return;
      await api("POST", `/api/keys/${button.dataset.revoke}/revoke`);
      toast(t("keys.revoked_toast"));
      await render(main);
    }),
  );
}

// The secret exists only in this answer: the server keeps a keyed hash.
function showOnce(slot, key) {
  slot.innerHTML = String(html`<section class="card notice ok" role="status">
    <h2>${t("keys.created_title")}</h2><p>${t("keys.shown_once")}</p>
    <p class="secret"><code id="new-key">${key.key}</code> <button type="button" id="copy-key">${t("common.copy")}</button></p></section>`);
  slot.querySelector("#copy-key").addEventListener("click", () => copy(key.key));
  slot.querySelector("#copy-key").focus();
}

