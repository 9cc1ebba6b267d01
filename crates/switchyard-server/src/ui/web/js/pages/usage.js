// Usage: the request log's metadata (never prompts), filtered by key, model, status and date,
// a page at a time, with the same filters as a CSV download.

import { api, html, money, mount, navigate, number, t, when } from "../core.js";

const FILTERS = ["key", "model", "status", "from", "to"];

export async function render(main, { params }) {
  const query = new URLSearchParams();
  FILTERS.forEach((name) => params.get(name) && query.set(name, params.get(name)));
  const page = new URLSearchParams(query);
  if (params.get("cursor")) page.set("cursor", params.get("cursor"));
  const [rows, keys] = await Promise.all([
    api("GET", `/api/usage?${page}`),
    api("GET", "/api/keys"),
  ]);
  const data = rows.data ?? [];
  const selected = (name, value) => (params.get(name) === value ? html`selected` : "");
  mount(main, html`
    <h1>${t("nav.usage")}</h1>
    <form id="usage-filter" class="card filters" role="search" aria-label="${t("usage.filters")}">
      <div><label for="f-key">${t("usage.key")}</label>
        <select id="f-key" name="key"><option value="">${t("usage.any")}</option>
        ${(keys.data ?? []).map((k) => html`<option value="${k.id}" ${selected("key", k.id)}>${k.name || k.prefix}</option>`)}</select></div>
      <div><label for="f-model">${t("usage.model")}</label><input id="f-model" name="model" value="${params.get("model") ?? ""}"></div>
      <div><label for="f-status">${t("usage.status")}</label>
        <select id="f-status" name="status"><option value="">${t("usage.any")}</option>
        <option value="ok" ${selected("status", "ok")}>${t("usage.ok")}</option>
        <option value="error" ${selected("status", "error")}>${t("usage.errors")}</option></select></div>
      <div><label for="f-from">${t("usage.from")}</label><input id="f-from" name="from" type="date" value="${params.get("from") ?? ""}"></div>
      <div><label for="f-to">${t("usage.to")}</label><input id="f-to" name="to" type="date" value="${params.get("to") ?? ""}"></div>
      <div class="actions"><button type="submit" class="primary">${t("usage.apply")}</button>
        <a class="button" id="csv" href="/api/usage.csv?${query}" download>${t("usage.csv")}</a></div>
    </form>
    <section class="card">
    ${data.length ? html`<div class="scroll"><table id="usage-rows"><thead><tr>
      <th>${t("usage.time")}</th><th>${t("usage.key")}</th><th>${t("usage.model")}</th><th>${t("usage.status")}</th>
      <th class="num">${t("usage.tokens_in")}</th><th class="num">${t("usage.tokens_out")}</th><th class="num">${t("usage.cost")}</th><th class="num">${t("usage.latency")}</th></tr></thead>
      <tbody>${data.map((r) => html`<tr>
        <td>${when(r.created_at)}</td><td>${r.key_name ?? "—"}</td>
        <td>${r.model}${r.jurisdiction ? html` <span class="badge">${r.jurisdiction}</span>` : ""}</td>
        <td><span class="badge ${r.status < 400 ? "on" : "off"}">${r.status}</span></td>
        <td class="num">${number(r.prompt_tokens)}</td><td class="num">${number(r.completion_tokens)}</td>
        <td class="num">${money(r.cost_nanos)}</td><td class="num">${number(r.latency_ms)} ms</td></tr>`)}</tbody></table></div>`
      : html`<p class="empty">${t("usage.none")}</p>`}
    ${rows.next_cursor ? html`<p><a class="button" id="next-page" href="/app/usage?${withCursor(query, rows.next_cursor)}" data-link>${t("usage.older")}</a></p>` : ""}
    </section>`);
  main.querySelector("#usage-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const next = new URLSearchParams();
    FILTERS.forEach((name) => form.get(name) && next.set(name, form.get(name)));
    navigate(`/app/usage?${next}`);
  });
}

function withCursor(query, cursor) {
  const next = new URLSearchParams(query);
  next.set("cursor", cursor);
  return next;
}
