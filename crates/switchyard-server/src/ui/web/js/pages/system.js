// The operator's system view: traffic and errors now, latency percentiles of recent requests,
// and requests, spend and revenue per day.

import { api, html, money, mount, number, t } from "../core.js";
import { bars } from "../chart.js";

const nanosOf = (value) => Number(typeof value === "object" && value !== null ? value.nanos : value ?? 0);

export async function render(main) {
  const stats = await api("GET", "/api/admin/stats?days=30");
  const now = stats.now ?? stats.recent ?? {};
  const latency = stats.latency ?? stats.latency_ms ?? {};
  const days = stats.days ?? stats.data ?? [];
  const pct = (x) => `${(Number(x ?? 0) * 100).toFixed(2)} %`;
  mount(main, html`
    <h1>${t("nav.admin_system")}</h1>
    <div class="tiles">
      <section class="tile"><h2>${t("system.rps")}</h2><p class="big" id="rps">${Number(now.rps_1m ?? now.requests_per_second_1m ?? 0).toFixed(2)}</p>
        <p class="hint">${t("system.rps_5m", { value: Number(now.rps_5m ?? now.requests_per_second_5m ?? 0).toFixed(2) })}</p></section>
      <section class="tile"><h2>${t("system.error_rate")}</h2><p class="big">${pct(now.error_rate_1m)}</p>
        <p class="hint">${t("system.error_rate_5m", { value: pct(now.error_rate_5m) })}</p></section>
      <section class="tile"><h2>${t("system.latency")}</h2><p class="big">${number(latency.p50 ?? latency.p50_ms)} ms</p>
        <p class="hint">p95 ${number(latency.p95 ?? latency.p95_ms)} ms · p99 ${number(latency.p99 ?? latency.p99_ms)} ms</p></section>
    </div>
    <section class="card"><h2>${t("system.spend_per_day")}</h2>
      ${bars(days.map((d) => ({ label: d.day, value: nanosOf(d.spend ?? d.cost), title: `${d.day}: ${money(d.spend ?? d.cost)}` })), { label: t("system.spend_per_day") })}</section>
    <section class="card"><h2>${t("system.per_day")}</h2><div class="scroll"><table id="days"><thead><tr><th>${t("common.day")}</th>
      <th class="num">${t("usage.requests")}</th><th class="num">${t("usage.errors")}</th><th class="num">${t("system.spend")}</th><th class="num">${t("system.revenue")}</th></tr></thead>
      <tbody>${[...days].reverse().map((d) => html`<tr><td>${d.day}</td><td class="num">${number(d.requests)}</td><td class="num">${number(d.errors)}</td>
        <td class="num">${money(d.spend ?? d.cost)}</td><td class="num">${money(d.revenue)}</td></tr>`)}</tbody></table></div></section>`);
}
