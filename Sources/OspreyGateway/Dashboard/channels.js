// Channels: the chat platforms agents are reached through, the senders waiting for a pairing code to be entered,
// the paired senders (revocable), and the form an operator types a sender's code into.
import { api } from "/ui/api.js";
import { el, field, notice, replace, time } from "/ui/dom.js";

export async function channels(view) {
  const body = el("div");
  async function load() {
    const { channels: list, senders, pending } = await api("GET", "/api/channels");
    const code = el("input", { required: true, autocomplete: "off", spellcheck: "false", placeholder: "XXXX-XXXX" });
    const approver = el("input", { type: "checkbox" });
    const result = el("p", { role: "status" });
    const form = el("form", { class: "row", "aria-label": "Pair a sender" }, field("Pairing code", code),
      field("May answer approvals", approver), el("button", { type: "submit", text: "Pair" }), result);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const paired = await api("POST", "/api/channels/pair", { code: code.value, approver: approver.checked });
        await load();
        body.prepend(notice(`Paired ${paired.channel}/${paired.sender} (${paired.display}).`, "ok"));
      } catch (error) { result.replaceChildren(notice(error.message)); }
    });
    const row = (...cells) => el("tr", {}, ...cells.map((cell) => el("td", {}, cell)));
    replace(
      body,
      el("h2", { text: "Pair a sender" }),
      el("p", { class: "muted", text: "A stranger who writes to a bot gets a code; enter the code they give you." }),
      form,
      el("h2", { text: "Waiting for a code" }),
      pending.length ? el("table", { class: "pending" }, el("tbody", {}, ...pending.map((p) =>
        row(`${p.channel}/${p.sender}`, p.display, `expires ${time(p.expires_at)}`)))) : el("p", { class: "muted", text: "No one." }),
      el("h2", { text: "Senders" }),
      senders.length ? el("table", { class: "senders" }, el("tbody", {}, ...senders.map((s) => row(
        `${s.channel}/${s.sender}`, s.display, s.approver ? "approver" : "",
        s.revoked_at ? `revoked ${time(s.revoked_at)}` : `paired ${time(s.paired_at)} by ${s.paired_by}`,
        s.revoked_at ? "" : el("button", { type: "button", class: "danger", text: "Revoke", onclick: async () => {
          try {
            await api("POST", `/api/channels/${encodeURIComponent(s.channel)}/revoke`, { sender: s.sender });
            await load();
          } catch (error) { body.prepend(notice(error.message)); }
        } }),
      )))) : el("p", { class: "muted", text: "No paired senders." }),
      el("h2", { text: "Channels" }),
      list.length ? el("table", {}, el("tbody", {}, ...list.map((c) =>
        row(c.name, c.kind, `agent ${c.agent}`, `allow ${c.allow.join(", ") || "—"}`, c.base_url)))) :
        el("p", { class: "muted", text: "No [[channels]] in config.toml." }),
    );
  }
  replace(view, el("h1", { text: "Channels" }), body);
  await load();
}
