// The operator's system view: traffic and errors now, latency percentiles of recent requests,
// and requests, spend and revenue per day.

import { api, html, money, mount, nanos, number, t } from "../core.js";
import { bars } from "../chart.js";

export async function render(main) {
  const stats = await api("GET", "/api/admin/stats?days=30");
  const minute = stats.last_minute ?? {};
  const five = stats.last_5_minutes ?? {};
  const latency = stats.latency ?? {};
  const days = stats.days ?? [];
  const pct = (x) => `${(Number(x ?? 0) * 100).toFixed(2)} %`;
  const ms = (x) => (x === null || x === undefined ? "—" : `${number(Math.round(x))} ms`);
  mount(main, html`
    <h1>${t("nav.admin_system")}</h1>
    <div class="tiles">
      <section class="tile"><h2>${t("system.rps")}</h2><p class="big" id="rps">${Number(minute.requests_per_second ?? 0).toFixed(2)}</p>
        <p class="hint">${t("system.rps_5m", { value: Number(five.requests_per_second ?? 0).toFixed(2) })}</p></section>
      <section class="tile"><h2>${t("system.error_rate")}</h2><p class="big">${pct(minute.error_rate)}</p>
        <p class="hint">${t("system.error_rate_5m", { value: pct(five.error_rate) })}</p></section>
      <section class="tile"><h2>${t("system.latency")}</h2><p class="big" id="p50">${ms(latency.p50_ms)}</p>
        <p class="hint">p95 ${ms(latency.p95_ms)} · p99 ${ms(latency.p99_ms)}</p></section>
    </div>
    <section class="card"><h2>${t("system.spend_per_day")}</h2>
      ${bars(days.map((d) => ({ label: d.date, value: nanos(d.spend), title: `${d.date}: ${money(d.spend)}` })), { label: t("system.spend_per_day") })}</section>
    <section class="card"><h2>${t("system.per_day")}</h2><div class="scroll"><table id="days"><thead><tr><th>${t("common.day")}</th>
      <th class="num">${t("usage.requests")}</th><th class="num">${t("usage.errors")}</th><th class="num">${t("system.spend")}</th><th class="num">${t("system.revenue")}</th></tr></thead>
      <tbody>${[...days].reverse().map((d) => html`<tr><td>${d.date}</td><td class="num">${number(d.requests)}</td><td class="num">${number(d.errors)}</td>
        <td class="num">${money(d.spend)}</td><td class="num">${money(d.revenue)}</td></tr>`)}</tbody></table></div></section>`);
}
