// Playground: chat with any model the account may use, streamed. The conversation stays in
// this browser tab (sessionStorage) and is never stored by the server beyond the usual
// metadata log row. Calls go through the normal /v1 path with a short-lived key the server
// makes for the signed-in user, so the playground is charged and limited like any client.

import { api, formError, html, mount, onSubmit, t } from "../core.js";

const STORE = "switchyard.playground";

async function playgroundKey() {
  const saved = JSON.parse(sessionStorage.getItem(`${STORE}.key`) || "null");
  // A minute of margin, so a key never expires between the check and the call.
  if (saved && saved.expires_at * 1000 > Date.now() + 60_000) return saved.key;
  const fresh = await api("POST", "/api/playground/key");
  sessionStorage.setItem(`${STORE}.key`, JSON.stringify({ key: fresh.key, expires_at: fresh.expires_at }));
  return fresh.key;
}

const load = () => JSON.parse(sessionStorage.getItem(`${STORE}.chat`) || "[]");
const save = (messages) => sessionStorage.setItem(`${STORE}.chat`, JSON.stringify(messages));

export async function render(main) {
  const catalogue = await api("GET", "/api/models");
  const models = (catalogue.data ?? []).filter((m) => m.admitted && (m.kind ?? "chat") === "chat");
  const messages = load();
  mount(main, html`
    <h1>${t("nav.playground")}</h1>
    <p class="hint">${t("playground.intro")}</p>
    <div class="card stack">
      <label for="pg-model">${t("usage.model")}</label>
      <select id="pg-model">${models.map((m) => html`<option>${m.id}</option>`)}</select>
      <ol id="transcript" class="transcript" aria-live="polite"></ol>
      <form id="pg-form" class="stack">
        <label for="pg-input">${t("playground.message")}</label>
        <textarea id="pg-input" name="message" rows="3" required></textarea>
        ${formError()}
        <div class="row"><button type="submit" class="primary">${t("playground.send")}</button>
          <button type="button" id="pg-clear">${t("playground.clear")}</button></div>
      </form>
    </div>`);
  const transcript = main.querySelector("#transcript");
  const draw = () => {
    transcript.innerHTML = String(html`${messages.map((m) => html`<li class="msg ${m.role}"><span class="who">${t(`playground.${m.role}`)}</span><div class="text">${m.content}</div></li>`)}`);
  };
  draw();
  main.querySelector("#pg-clear").addEventListener("click", () => {
    messages.length = 0;
    save(messages);
    draw();
  });
  const input = main.querySelector("#pg-input");
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) main.querySelector("#pg-form").requestSubmit();
  });
  onSubmit(main.querySelector("#pg-form"), async (data) => {
    const text = data.get("message").trim();
    if (!text) return;
    messages.push({ role: "user", content: text });
    input.value = "";
    const reply = { role: "assistant", content: "" };
    messages.push(reply);
    draw();
    const out = transcript.lastElementChild.querySelector(".text");
    try {
      await stream(main.querySelector("#pg-model").value, messages.slice(0, -1), (delta) => {
        reply.content += delta;
        out.textContent = reply.content;
      });
    } catch (error) {
      messages.splice(-2, 2);
      draw();
      throw error;
    } finally {
      save(messages);
    }
  });
}

// Reads the server-sent events of a streamed chat completion and hands each text delta on.
async function stream(model, messages, onDelta) {
  const key = await playgroundKey();
  const res = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, messages, stream: true }),
  });
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const error = new Error(body?.error?.message || `HTTP ${res.status}`);
    throw Object.assign(error, { status: res.status });
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const payload = line.slice(5).trim();
        if (payload === "[DONE]") return;
        const chunk = JSON.parse(payload);
        const delta = chunk.choices?.[0]?.delta?.content;
        if (delta) onDelta(delta);
      }
    }
  }
}
