// Billing: the balance, a card top-up (Stripe Checkout, when the operator configured it),
// redeeming a code, the ledger's history a page at a time, and invoices as PDFs.

import { api, formError, html, money, mount, onSubmit, t, tCode, toast, when } from "../core.js";

export async function render(main, { params }) {
  const before = params.get("before");
  const [balance, ledger, invoices, referral] = await Promise.all([
    api("GET", "/api/billing/balance"),
    api("GET", `/api/billing/ledger?limit=25${before ? `&before=${encodeURIComponent(before)}` : ""}`),
    api("GET", "/api/billing/invoices"),
    api("GET", "/api/billing/referral").catch(() => null),
  ]);
  if (params.get("checkout") === "success") toast(t("billing.paid"));
  mount(main, html`
    <h1>${t("nav.billing")}</h1>
    <div class="tiles">
      <section class="tile"><h2>${t("overview.balance")}</h2><p class="big" id="balance">${money(balance.balance, true)}</p>
        <p class="hint">${t("billing.holds", { amount: money(balance.holds) })}</p></section>
      ${referral ? html`<section class="tile"><h2>${t("billing.referral")}</h2><p><code>${referral.code}</code></p>
        <p class="hint">${t("billing.referral_hint", { percent: referral.referral_percent })}</p></section>` : ""}
    </div>
    <div class="columns">
      <form id="topup" class="card stack" novalidate>
        <h2>${t("billing.topup")}</h2>
        <label for="topup-usd">${t("billing.amount_usd")}</label>
        <input id="topup-usd" name="usd" inputmode="decimal" required pattern="[0-9]+(\\.[0-9]{1,2})?" placeholder="10.00">
        ${formError()}
        <button type="submit" class="primary">${t("billing.pay")}</button>
      </form>
      <form id="redeem" class="card stack" novalidate>
        <h2>${t("billing.redeem")}</h2>
        <label for="redeem-code">${t("billing.code")}</label>
        <input id="redeem-code" name="code" required autocomplete="off" spellcheck="false">
        ${formError()}
        <button type="submit" class="primary">${t("billing.redeem")}</button>
      </form>
    </div>
    <section class="card"><h2>${t("billing.history")}</h2>
      ${ledger.data?.length ? html`<div class="scroll"><table id="ledger"><thead><tr><th>${t("usage.time")}</th><th>${t("billing.kind")}</th><th>${t("billing.memo")}</th><th class="num">${t("billing.amount")}</th></tr></thead>
      <tbody>${ledger.data.map((e) => html`<tr><td>${when(e.created_at)}</td><td>${tCode("ledger", e.kind, e.kind)}${e.phase && e.phase !== "posted" ? html` <span class="badge">${e.phase}</span>` : ""}</td>
        <td>${e.memo ?? ""}</td><td class="num ${Number(e.amount.nanos) < 0 ? "neg" : ""}">${money(e.amount)}</td></tr>`)}</tbody></table></div>
      ${ledger.next_before ? html`<p><a class="button" href="/app/billing?before=${ledger.next_before}" data-link>${t("usage.older")}</a></p>` : ""}`
      : html`<p class="empty">${t("billing.no_history")}</p>`}
    </section>
    <section class="card"><h2>${t("billing.invoices")}</h2>
      ${invoices.data?.length ? html`<table><thead><tr><th>${t("billing.invoice")}</th><th>${t("common.day")}</th><th class="num">${t("billing.amount")}</th><th></th></tr></thead>
      <tbody>${invoices.data.map((i) => html`<tr><td>${i.number}</td><td>${i.issue_date}</td><td class="num">${money(i.amount)}</td>
        <td><a href="${i.pdf_url}" download>${t("billing.download_pdf")}</a></td></tr>`)}</tbody></table>`
      : html`<p class="empty">${t("billing.no_invoices")}</p>`}
    </section>`);
  onSubmit(main.querySelector("#topup"), async (data) => {
    const checkout = await api("POST", "/api/billing/checkout", { usd: data.get("usd") });
    location.assign(checkout.url);
  });
  onSubmit(main.querySelector("#redeem"), async (data) => {
    const result = await api("POST", "/api/billing/redeem", { code: data.get("code").trim() });
    toast(t("billing.redeemed", { amount: money(result.credited) }));
    await render(main, { params: new URLSearchParams() });
  });
}
