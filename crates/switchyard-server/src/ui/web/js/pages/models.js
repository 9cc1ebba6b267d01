// Models and prices: the catalogue the caller may use, with each model's prices, where its
// providers process prompts (jurisdiction) and what they do with them (data practices).

import { api, html, money, mount, t } from "../core.js";

// Declared practices in green or red; an undeclared one is named as such, since routing treats
// it as failing every requirement (fail closed).
const practice = (value, yes, no, unknown) =>
  value === true ? html`<span class="badge off">${yes}</span>` : value === false ? html`<span class="badge on">${no}</span>` : html`<span class="badge">${unknown}</span>`;

export async function render(main) {
  const catalogue = await api("GET", "/api/models");
  const models = catalogue.data ?? [];
  mount(main, html`
    <h1>${t("nav.models")}</h1>
    <p class="hint">${t("models.intro")}</p>
    <div class="scroll"><table id="catalogue"><thead><tr>
      <th>${t("usage.model")}</th><th>${t("models.providers")}</th><th class="num">${t("models.input_price")}</th><th class="num">${t("models.output_price")}</th>
      <th>${t("models.jurisdiction")}</th><th>${t("models.data")}</th><th>${t("models.allowed")}</th></tr></thead>
    <tbody>${models.map((m) => {
      const providers = m.channels ?? [];
      return html`<tr data-model="${m.id}">
        <td><strong>${m.id}</strong>${m.aliases?.length ? html`<br><span class="hint">${t("models.aliases")}: ${m.aliases.join(", ")}</span>` : ""}</td>
        <td>${[...new Set(providers.map((p) => p.provider))].join(", ")}</td>
        <td class="num">${m.prices ? money(m.prices.input) : "—"}</td>
        <td class="num">${m.prices ? money(m.prices.output) : "—"}</td>
        <td>${[...new Set(providers.map((p) => p.jurisdiction ?? "?"))].join(", ")}</td>
        <td>${providers.map((p) => html`<div>${practice(p.trains_on_prompts, t("models.trains"), t("models.no_training"), t("models.training_undeclared"))} ${practice(p.retains_prompts, t("models.retains"), t("models.no_retention"), t("models.retention_undeclared"))}${p.zdr ? html` <span class="badge on">ZDR</span>` : ""}</div>`)}</td>
        <td>${m.admitted ? html`<span class="badge on">${t("models.yes")}</span>` : html`<span class="badge off" title="${providers.map((p) => p.refused_because).filter(Boolean).join("; ")}">${t("models.blocked")}</span>`}</td>
      </tr>`;
    })}</tbody></table></div>`);
}
