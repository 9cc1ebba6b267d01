// The operator's catalogue: providers (add, edit, test the connection, replace the key,
// delete) and models with their prices (add, edit the prices, delete). API keys are write-only: the page sends them and
// only ever shows whether one is set and its last four characters. Entries from the
// configuration file are listed but read-only.

import { api, formError, html, mount, onSubmit, t, toast } from "../core.js";

const tri = (name, label) => html`
  <label for="p-${name}">${label}</label>
  <select id="p-${name}" name="${name}"><option value="">${t("catalog.undeclared")}</option>
    <option value="true">${t("models.yes")}</option><option value="false">${t("catalog.no")}</option></select>`;

export async function render(main) {
  const [providers, models] = await Promise.all([
    api("GET", "/api/admin/providers"),
    api("GET", "/api/admin/models"),
  ]);
  const plist = providers.data ?? [];
  const mlist = models.data ?? [];
  mount(main, html`
    <h1>${t("nav.admin_catalog")}</h1>
    <section class="card"><h2>${t("catalog.providers")}</h2>
      <div class="scroll"><table id="provider-list"><thead><tr><th>${t("keys.name")}</th><th>${t("catalog.kind")}</th><th>${t("catalog.base_url")}</th>
        <th>${t("models.jurisdiction")}</th><th>${t("catalog.api_key")}</th><th>${t("catalog.source")}</th><th>${t("common.actions")}</th></tr></thead>
      <tbody>${plist.map((p) => html`<tr data-provider="${p.name}"><td>${p.name}</td><td>${p.kind}</td><td><code>${p.base_url ?? "—"}</code></td>
        <td>${p.jurisdiction ?? "—"}</td><td>${p.api_key_set ? html`•••• ${p.api_key_last4 ?? ""}` : t("catalog.no_key")}</td>
        <td>${p.source === "config" ? t("catalog.from_config") : t("catalog.from_console")}</td>
        <td><div class="cell-actions"><button type="button" class="small" data-test="${p.name}">${t("catalog.test")}</button>
          ${p.source === "config" ? "" : html`<button type="button" class="small" data-edit-provider="${p.name}">${t("catalog.edit")}</button>
          <button type="button" class="small" data-rekey="${p.name}">${t("catalog.replace_key")}</button>
          <button type="button" class="small danger" data-delete-provider="${p.name}">${t("catalog.delete")}</button>`}</div></td></tr>`)}</tbody></table></div>
    </section>
    <form id="add-provider" class="card stack" novalidate autocomplete="off">
      <h2>${t("catalog.add_provider")}</h2>
      <label for="p-name">${t("keys.name")}</label><input id="p-name" name="name" required pattern="[a-z0-9][a-z0-9_-]*">
      <label for="p-kind">${t("catalog.kind")}</label>
      <select id="p-kind" name="kind"><option>openai</option><option>anthropic</option><option>gemini</option></select>
      <label for="p-url">${t("catalog.base_url")}</label><input id="p-url" name="base_url" type="url" required placeholder="https://api.example.com/v1">
      <label for="p-key">${t("catalog.api_key")}</label><input id="p-key" name="api_key" type="password" autocomplete="new-password">
      <p class="hint">${t("catalog.key_hint")}</p>
      <label for="p-jurisdiction">${t("models.jurisdiction")}</label><input id="p-jurisdiction" name="jurisdiction" maxlength="2" placeholder="US">
      ${tri("trains_on_prompts", t("models.trains"))}
      ${tri("retains_prompts", t("models.retains"))}
      ${tri("zdr", "ZDR")}
      ${formError()}
      <button type="submit" class="primary">${t("catalog.add_provider")}</button>
    </form>
    <section class="card"><h2>${t("catalog.models")}</h2>
      <div class="scroll"><table id="model-list"><thead><tr><th>${t("usage.model")}</th><th>${t("catalog.kind")}</th><th>${t("models.providers")}</th>
        <th class="num">${t("models.input_price")}</th><th class="num">${t("models.output_price")}</th><th>${t("catalog.source")}</th><th></th></tr></thead>
      <tbody>${mlist.map((m) => html`<tr data-model="${m.name}"><td>${m.name}</td><td>${m.kind}</td>
        <td>${(m.channels ?? []).map((c) => `${c.provider}/${c.upstream_model}`).join(", ")}</td>
        <td class="num">$${m.input_usd_per_mtok}</td><td class="num">$${m.output_usd_per_mtok}</td>
        <td>${m.source === "config" ? t("catalog.from_config") : t("catalog.from_console")}</td>
        <td>${m.source === "config" ? "" : html`<div class="cell-actions"><button type="button" class="small" data-edit-model="${m.name}">${t("catalog.edit")}</button>
          <button type="button" class="small danger" data-delete-model="${m.name}">${t("catalog.delete")}</button></div>`}</td></tr>`)}</tbody></table></div>
    </section>
    <form id="add-model" class="card stack" novalidate>
      <h2>${t("catalog.add_model")}</h2>
      <p class="hint">${t("catalog.price_hint")}</p>
      <label for="m-name">${t("usage.model")}</label><input id="m-name" name="name" required>
      <label for="m-kind">${t("catalog.kind")}</label>
      <select id="m-kind" name="kind"><option value="chat">chat</option><option value="embedding">embedding</option></select>
      <label for="m-provider">${t("catalog.provider")}</label>
      <select id="m-provider" name="provider">${plist.map((p) => html`<option>${p.name}</option>`)}</select>
      <label for="m-upstream">${t("admin.upstream_model")}</label><input id="m-upstream" name="upstream_model" required>
      <label for="m-input">${t("catalog.input_usd")}</label><input id="m-input" name="input_usd_per_mtok" inputmode="decimal" required placeholder="0.15">
      <label for="m-output">${t("catalog.output_usd")}</label><input id="m-output" name="output_usd_per_mtok" inputmode="decimal" required placeholder="0.60">
      ${formError()}
      <button type="submit" class="primary">${t("catalog.add_model")}</button>
    </form>
    <dialog id="edit-provider-dialog" aria-labelledby="ep-title"><form id="edit-provider" class="stack" novalidate>
      <h2 id="ep-title"></h2>
      <label for="ep-url">${t("catalog.base_url")}</label><input id="ep-url" name="base_url" type="url" required>
      <label for="ep-jurisdiction">${t("models.jurisdiction")}</label><input id="ep-jurisdiction" name="jurisdiction" maxlength="2">
      ${["trains_on_prompts", "retains_prompts", "zdr"].map((f) => html`<label for="ep-${f}">${f === "zdr" ? "ZDR" : t(f === "trains_on_prompts" ? "models.trains" : "models.retains")}</label>
        <select id="ep-${f}" name="${f}"><option value="">${t("catalog.undeclared")}</option><option value="true">${t("models.yes")}</option><option value="false">${t("catalog.no")}</option></select>`)}
      ${formError()}
      <div class="row"><button type="submit" class="primary">${t("common.save")}</button><button type="button" data-close>${t("common.cancel")}</button></div>
    </form></dialog>
    <dialog id="edit-model-dialog" aria-labelledby="em-title"><form id="edit-model" class="stack" novalidate>
      <h2 id="em-title"></h2>
      <label for="em-input">${t("catalog.input_usd")}</label><input id="em-input" name="input_usd_per_mtok" inputmode="decimal" required>
      <label for="em-output">${t("catalog.output_usd")}</label><input id="em-output" name="output_usd_per_mtok" inputmode="decimal" required>
      ${formError()}
      <div class="row"><button type="submit" class="primary">${t("common.save")}</button><button type="button" data-close>${t("common.cancel")}</button></div>
    </form></dialog>`);

  const reload = () => render(main);
  onSubmit(main.querySelector("#add-provider"), async (data) => {
    const body = { name: data.get("name").trim(), kind: data.get("kind"), base_url: data.get("base_url").trim() };
    if (data.get("api_key")) body.api_key = data.get("api_key");
    if (data.get("jurisdiction")) body.jurisdiction = data.get("jurisdiction").trim().toUpperCase();
    for (const flag of ["trains_on_prompts", "retains_prompts", "zdr"]) {
      if (data.get(flag)) body[flag] = data.get(flag) === "true";
    }
    await api("POST", "/api/admin/providers", body);
    toast(t("common.saved"));
    await reload();
  });
  onSubmit(main.querySelector("#add-model"), async (data) => {
    await api("POST", "/api/admin/models", {
      name: data.get("name").trim(), kind: data.get("kind"), provider: data.get("provider"),
      upstream_model: data.get("upstream_model").trim(),
      input_usd_per_mtok: data.get("input_usd_per_mtok").trim(), output_usd_per_mtok: data.get("output_usd_per_mtok").trim(),
    });
    toast(t("common.saved"));
    await reload();
  });
  // Editing: a dialog filled with the entry's current values; only what it shows is sent.
  main.querySelectorAll("dialog [data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));
  const providerDialog = main.querySelector("#edit-provider-dialog");
  const modelDialog = main.querySelector("#edit-model-dialog");
  let editing = null;
  const asSelect = (value) => (value === true ? "true" : value === false ? "false" : "");
  main.querySelectorAll("[data-edit-provider]").forEach((b) => b.addEventListener("click", () => {
    const p = plist.find((x) => x.name === b.dataset.editProvider);
    editing = p.name;
    providerDialog.querySelector("#ep-title").textContent = `${t("catalog.edit")}: ${p.name}`;
    providerDialog.querySelector("#ep-url").value = p.base_url ?? "";
    providerDialog.querySelector("#ep-jurisdiction").value = p.jurisdiction === "unspecified" ? "" : p.jurisdiction ?? "";
    for (const f of ["trains_on_prompts", "retains_prompts", "zdr"]) providerDialog.querySelector(`#ep-${f}`).value = asSelect(p[f]);
    providerDialog.showModal();
  }));
  onSubmit(providerDialog.querySelector("form"), async (data) => {
    const body = { base_url: data.get("base_url").trim(), jurisdiction: data.get("jurisdiction").trim().toUpperCase() || null };
    for (const f of ["trains_on_prompts", "retains_prompts", "zdr"]) body[f] = data.get(f) ? data.get(f) === "true" : null;
    if (body.zdr === null) body.zdr = false;
    await api("PATCH", `/api/admin/providers/${encodeURIComponent(editing)}`, body);
    providerDialog.close();
    toast(t("common.saved"));
    await reload();
  });
  main.querySelectorAll("[data-edit-model]").forEach((b) => b.addEventListener("click", () => {
    const m = mlist.find((x) => x.name === b.dataset.editModel);
    editing = m.name;
    modelDialog.querySelector("#em-title").textContent = `${t("catalog.edit")}: ${m.name}`;
    modelDialog.querySelector("#em-input").value = m.input_usd_per_mtok;
    modelDialog.querySelector("#em-output").value = m.output_usd_per_mtok;
    modelDialog.showModal();
  }));
  onSubmit(modelDialog.querySelector("form"), async (data) => {
    await api("PATCH", `/api/admin/models/${encodeURIComponent(editing)}`, {
      input_usd_per_mtok: data.get("input_usd_per_mtok").trim(), output_usd_per_mtok: data.get("output_usd_per_mtok").trim(),
    });
    modelDialog.close();
    toast(t("common.saved"));
    await reload();
  });
  const act = (selector, handler) => main.querySelectorAll(selector).forEach((b) => b.addEventListener("click", async () => {
    try { await handler(b); } catch (error) { toast(error.message, "error"); }
  }));
  act("[data-test]", async (b) => {
    b.disabled = true;
    const result = await api("POST", `/api/admin/providers/${encodeURIComponent(b.dataset.test)}/test`);
    b.disabled = false;
    toast(result.ok ? t("catalog.test_ok", { ms: Math.round(result.latency_ms ?? 0) }) : t("catalog.test_failed", { message: result.message }), result.ok ? "ok" : "error");
  });
  act("[data-rekey]", async (b) => {
    const key = prompt(t("catalog.new_key_prompt", { name: b.dataset.rekey }));
    if (!key) return;
    await api("PATCH", `/api/admin/providers/${encodeURIComponent(b.dataset.rekey)}`, { api_key: key });
    toast(t("common.saved"));
    await reload();
  });
  act("[data-delete-provider]", async (b) => {
    if (!confirm(t("catalog.delete_confirm", { name: b.dataset.deleteProvider }))) return;
    await api("DELETE", `/api/admin/providers/${encodeURIComponent(b.dataset.deleteProvider)}`);
    await reload();
  });
  act("[data-delete-model]", async (b) => {
    if (!confirm(t("catalog.delete_confirm", { name: b.dataset.deleteModel }))) return;
    await api("DELETE", `/api/admin/models/${encodeURIComponent(b.dataset.deleteModel)}`);
    await reload();
  });
}
