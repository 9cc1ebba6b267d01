// The operator console: users (search, disable, role, credit with a reason), providers and
// their channels (weight, priority, on/off, live health), and redemption-code batches.

import { api, formError, html, money, mount, navigate, onSubmit, session, t, toast, when } from "../core.js";

export async function users(main, { params }) {
  const q = params.get("q") ?? "";
  const cursor = params.get("cursor");
  const query = new URLSearchParams({ limit: "50" });
  if (q) query.set("q", q);
  if (cursor) query.set("cursor", cursor);
  const list = await api("GET", `/api/admin/users?${query}`);
  const rows = list.data ?? [];
  mount(main, html`
    <h1>${t("nav.admin_users")}</h1>
    <form id="user-search" class="card filters" role="search">
      <div><label for="q">${t("admin.search")}</label><input id="q" name="q" type="search" value="${q}" placeholder="${t("admin.search_hint")}"></div>
      <div class="actions"><button type="submit" class="primary">${t("admin.search_button")}</button></div>
    </form>
    <section class="card"><div class="scroll"><table id="users"><thead><tr>
      <th>${t("auth.email")}</th><th>${t("admin.role")}</th><th>${t("keys.state")}</th><th class="num">${t("overview.balance")}</th><th>${t("keys.created")}</th><th>${t("common.actions")}</th></tr></thead>
      <tbody>${rows.map((u) => {
        const self = u.id === session.me.id;
        return html`<tr data-user="${u.id}"><td>${u.email}</td>
        <td><select data-role="${u.id}" aria-label="${t("admin.role_of", { email: u.email })}" ${self ? html`disabled` : ""}>
          ${["user", "admin"].map((r) => html`<option value="${r}" ${u.role === r ? html`selected` : ""}>${t(`admin.role_${r}`)}</option>`)}</select></td>
        <td>${u.disabled ? html`<span class="badge off">${t("admin.disabled")}</span>` : html`<span class="badge on">${t("keys.active")}</span>`}</td>
        <td class="num">${u.balance ? money(u.balance) : "—"}</td><td>${when(u.created_at, false)}</td>
        <td><div class="cell-actions">${self ? "" : html`<button type="button" class="small ${u.disabled ? "" : "danger"}" data-toggle="${u.id}" data-disabled="${u.disabled}">${u.disabled ? t("admin.enable") : t("admin.disable")}</button>`}
          <button type="button" class="small" data-credit="${u.id}" data-email="${u.email}">${t("admin.credit")}</button></div></td></tr>`;
      })}</tbody></table></div>
      ${rows.length ? "" : html`<p class="empty">${t("admin.no_users")}</p>`}
      ${list.next_cursor ? html`<p><a class="button" href="/app/admin/users?${new URLSearchParams({ q, cursor: list.next_cursor })}" data-link>${t("admin.more")}</a></p>` : ""}
    </section>
    <dialog id="credit-dialog" aria-labelledby="credit-title">
      <form id="credit" class="stack" method="dialog" novalidate>
        <h2 id="credit-title">${t("admin.credit")}</h2>
        <p id="credit-who"></p>
        <label for="credit-usd">${t("admin.credit_usd")}</label><input id="credit-usd" name="usd" inputmode="decimal" required>
        <p class="hint">${t("admin.credit_hint")}</p>
        <label for="credit-reason">${t("admin.reason")}</label><input id="credit-reason" name="reason" required maxlength="200">
        ${formError()}
        <div class="row"><button type="submit" class="primary">${t("admin.credit")}</button><button type="button" id="credit-cancel">${t("common.cancel")}</button></div>
      </form>
    </dialog>`);
  const reload = () => users(main, { params });
  main.querySelector("#user-search").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = new FormData(event.target).get("q");
    navigate(`/app/admin/users${value ? `?q=${encodeURIComponent(value)}` : ""}`);
  });
  main.querySelectorAll("[data-toggle]").forEach((b) => b.addEventListener("click", async () => {
    const disable = b.dataset.disabled !== "true";
    if (disable && !confirm(t("admin.disable_confirm"))) return;
    await api("PATCH", `/api/admin/users/${b.dataset.toggle}`, { disabled: disable });
    toast(t("common.saved"));
    await reload();
  }));
  main.querySelectorAll("[data-role]").forEach((s) => s.addEventListener("change", async () => {
    try {
      await api("PATCH", `/api/admin/users/${s.dataset.role}`, { role: s.value });
      toast(t("common.saved"));
    } catch (error) {
      toast(error.message, "error");
      await reload();
    }
  }));
  const dialog = main.querySelector("#credit-dialog");
  let target = null;
  main.querySelectorAll("[data-credit]").forEach((b) => b.addEventListener("click", () => {
    target = b.dataset.credit;
    dialog.querySelector("#credit-who").textContent = b.dataset.email;
    dialog.showModal();
  }));
  dialog.querySelector("#credit-cancel").addEventListener("click", () => dialog.close());
  onSubmit(dialog.querySelector("#credit"), async (data) => {
    await api("POST", `/api/admin/users/${target}/credit`, {
      usd: data.get("usd"), reason: data.get("reason"), idempotency_key: crypto.randomUUID(),
    });
    dialog.close();
    toast(t("admin.credited"));
    await reload();
  });
}

export async function providers(main) {
  const channels = (await api("GET", "/api/channels")).data ?? [];
  const byProvider = new Map();
  channels.forEach((c) => byProvider.set(c.provider, [...(byProvider.get(c.provider) ?? []), c]));
  mount(main, html`
    <h1>${t("nav.admin_providers")}</h1>
    <p class="hint">${t("admin.providers_intro")}</p>
    ${[...byProvider.entries()].map(([provider, list]) => html`
      <section class="card"><h2>${provider} <span class="badge">${list[0].jurisdiction ?? "?"}</span></h2>
      <div class="scroll"><table><thead><tr><th>${t("usage.model")}</th><th>${t("admin.channel")}</th><th>${t("admin.upstream_model")}</th>
        <th>${t("admin.health")}</th><th class="num">${t("usage.latency")}</th><th>${t("admin.weight")}</th><th>${t("admin.priority")}</th><th>${t("admin.enabled")}</th></tr></thead>
      <tbody>${list.map((c) => html`<tr data-channel="${c.model}/${c.channel}">
        <td>${c.model}</td><td>${c.channel}</td><td><code>${c.upstream_model}</code></td>
        <td><span class="badge ${c.state === "healthy" ? "on" : "off"}">${t(`admin.state_${c.state}`)}</span></td>
        <td class="num">${c.latency_ms === null || c.latency_ms === undefined ? "—" : `${Number(c.latency_ms).toFixed(1)} ms`}</td>
        <td><input class="tiny" type="number" min="0" max="1000000" value="${c.weight}" data-field="weight" aria-label="${t("admin.weight_of", { name: c.channel })}"></td>
        <td><input class="tiny" type="number" value="${c.priority}" data-field="priority" aria-label="${t("admin.priority_of", { name: c.channel })}"></td>
        <td><input type="checkbox" ${c.enabled ? html`checked` : ""} data-field="enabled" aria-label="${t("admin.enabled_of", { name: c.channel })}"></td>
      </tr>`)}</tbody></table></div></section>`)}`);
  main.querySelectorAll("[data-field]").forEach((input) => input.addEventListener("change", async () => {
    const [model, channel] = input.closest("tr").dataset.channel.split("/");
    const field = input.dataset.field;
    const value = field === "enabled" ? input.checked : Number(input.value);
    try {
      await api("PATCH", `/api/channels/${encodeURIComponent(model)}/${encodeURIComponent(channel)}`, { [field]: value });
      toast(t("common.saved"));
    } catch (error) {
      toast(error.message, "error");
      await providers(main);
    }
  }));
}

export async function codes(main) {
  mount(main, html`
    <h1>${t("nav.admin_codes")}</h1>
    <form id="codes" class="card stack" novalidate>
      <h2>${t("admin.new_batch")}</h2>
      <label for="c-count">${t("admin.count")}</label><input id="c-count" name="count" type="number" min="1" max="10000" value="10" required>
      <label for="c-usd">${t("admin.value_usd")}</label><input id="c-usd" name="usd" inputmode="decimal" required placeholder="5.00">
      <label for="c-days">${t("admin.expires_days")}</label><input id="c-days" name="expires_days" type="number" min="1">
      ${formError()}
      <button type="submit" class="primary">${t("admin.create_codes")}</button>
    </form>
    <div id="batch"></div>`);
  onSubmit(main.querySelector("#codes"), async (data) => {
    const body = { count: Number(data.get("count")), usd: data.get("usd") };
    if (data.get("expires_days")) body.expires_days = Number(data.get("expires_days"));
    const batch = await api("POST", "/api/admin/codes", body);
    // Shown once: the server keeps only keyed hashes of the codes.
    const csv = `code,value_usd\n${batch.codes.map((c) => `${c},${batch.value.usd}`).join("\n")}\n`;
    const href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    main.querySelector("#batch").innerHTML = String(html`<section class="card notice ok" role="status">
      <h2>${t("admin.batch_created", { count: batch.codes.length, value: money(batch.value) })}</h2>
      <p>${t("admin.codes_once")}</p><p><a class="button" href="${href}" download="codes-${batch.batch_id}.csv">${t("usage.csv")}</a></p>
      <textarea readonly rows="8" aria-label="${t("admin.codes")}">${batch.codes.join("\n")}</textarea></section>`);
  });
}
