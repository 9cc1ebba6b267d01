// Overview: the balance, spend and requests per day over 30 days, and the top models.

import { api, html, money, mount, nanos, number, session, t, when } from "../core.js";
import { bars } from "../chart.js";

export async function render(main) {
  const [balance, daily, consents] = await Promise.all([
    api("GET", "/api/billing/balance"),
    api("GET", "/api/usage/daily?days=30"),
    api("GET", "/api/account/consents").catch(() => ({ pending: [], upcoming: [] })),
  ]);
  const days = daily.data;
  const top = daily.top_models;
  const spent = days.reduce((sum, d) => sum + nanos(d.cost), 0);
  const requests = days.reduce((sum, d) => sum + d.requests, 0);
  const verified = session.profile?.email_verified;
  mount(main, html`
    <h1>${t("nav.overview")}</h1>
    ${verified === false ? html`<p class="notice">${t("overview.unverified")} <button type="button" class="link" id="resend">${t("overview.resend")}</button></p>` : ""}
    ${consents.pending.map((v) => html`<p class="notice" data-pending="${v.kind}">${t("terms.pending", { what: t(`terms.${v.kind}`), version: v.version })}
      ${v.summary} <a href="${v.url ?? "/privacy"}" target="_blank" rel="noopener">${t("terms.read")}</a>
      <button type="button" data-accept="${v.kind}" data-version="${v.version}">${t("terms.accept")}</button></p>`)}
    ${consents.upcoming.map((v) => html`<p class="notice" data-upcoming="${v.kind}">${t("terms.upcoming", { what: t(`terms.${v.kind}`), date: when(v.effective_at, false) })}
      ${v.summary} <a href="${v.url ?? "/privacy"}" target="_blank" rel="noopener">${t("terms.read")}</a></p>`)}
    <div class="tiles">
      <section class="tile"><h2>${t("overview.balance")}</h2><p class="big" id="balance">${money(balance.balance, true)}</p>
        <p class="hint">${t("overview.available", { amount: money(balance.available) })}</p></section>
      <section class="tile"><h2>${t("overview.spend_30")}</h2><p class="big" id="spend">${money(spent)}</p></section>
      <section class="tile"><h2>${t("overview.requests_30")}</h2><p class="big" id="requests">${number(requests)}</p></section>
    </div>
    <section class="card"><h2>${t("overview.spend_per_day")}</h2>
      ${bars(days.map((d) => ({ label: d.date, value: nanos(d.cost), title: `${d.date}: ${money(d.cost)}` })), { label: t("overview.spend_per_day") })}
    </section>
    <section class="card"><h2>${t("overview.requests_per_day")}</h2>
      ${bars(days.map((d) => ({ label: d.date, value: d.requests, title: `${d.date}: ${number(d.requests)}` })), { label: t("overview.requests_per_day") })}
      <table class="sr-only"><caption>${t("overview.requests_per_day")}</caption>
        <thead><tr><th>${t("common.day")}</th><th>${t("usage.requests")}</th><th>${t("usage.cost")}</th></tr></thead>
        <tbody>${days.map((d) => html`<tr><td>${d.date}</td><td>${number(d.requests)}</td><td>${money(d.cost)}</td></tr>`)}</tbody></table>
    </section>
    <section class="card"><h2>${t("overview.top_models")}</h2>
      ${top.length ? html`<table><thead><tr><th>${t("usage.model")}</th><th class="num">${t("usage.requests")}</th><th class="num">${t("usage.cost")}</th></tr></thead>
      <tbody>${top.map((m) => html`<tr><td>${m.model}</td><td class="num">${number(m.requests)}</td><td class="num">${money(m.cost)}</td></tr>`)}</tbody></table>`
      : html`<p class="empty">${t("overview.no_usage")} <a href="/app/keys" data-link>${t("overview.create_key")}</a></p>`}
    </section>`);
  main.querySelectorAll("[data-accept]").forEach((button) =>
    button.addEventListener("click", async () => {
      button.disabled = true;
      await api("POST", "/api/account/consents", { kind: button.dataset.accept, version: button.dataset.version });
      await render(main);
    }),
  );
  main.querySelector("#resend")?.addEventListener("click", async (event) => {
    event.target.disabled = true;
    await api("POST", "/api/auth/verify/request");
    event.target.textContent = t("auth.link_sent");
  });
}
