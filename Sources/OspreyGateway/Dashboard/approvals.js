// Approvals: tool calls waiting for a human; approve once, for the session, or reject (a token bound to an agent
// is refused by the API, and the page says so).
import { api } from "/ui/api.js";
import { el, notice, replace, time } from "/ui/dom.js";

/** One approval with its decision buttons; used here and inline in the chat. */
export function approvalCard(approval) {
  const state = el("p", { class: "status", role: "status" });
  const decide = (path, body) => async () => {
    for (const button of card.querySelectorAll("button")) button.disabled = true;
    try {
      const decided = await api("POST", `/api/approvals/${encodeURIComponent(approval.id)}/${path}`, body);
      state.textContent = `${decided.status}${decided.scope ? ` (${decided.scope})` : ""}`;
    } catch (error) {
      state.replaceChildren(notice(error.message));
      for (const button of card.querySelectorAll("button")) button.disabled = false;
    }
  };
  const card = el(
    "div",
    { class: "approval card", "data-approval": approval.id },
    el("h3", { text: `Approve ${approval.tool}?` }),
    el("p", { text: `${approval.reason} (rule ${approval.rule}, risk ${approval.risk}, agent ${approval.agent})` }),
    el("pre", { class: "args", text: approval.arguments ?? "" }),
    el("p", { class: "muted", text: `expires ${time(approval.expires_at)}` }),
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "button", class: "approve-once", onclick: decide("approve", { scope: "once" }), text: "Approve once" }),
      el("button", { type: "button", class: "secondary", onclick: decide("approve", { scope: "session" }), text: "Approve for the session" }),
      el("button", { type: "button", class: "danger", onclick: decide("reject", {}), text: "Reject" }),
    ),
    state,
  );
  return card;
}

export async function approvals(view) {
  const list = el("div", { class: "list" });
  const statusPicker = el("select", { "aria-label": "Status" },
    ...["pending", "granted", "denied", "expired", "used", "all"].map((s) => el("option", { value: s, text: s })));
  async function load() {
    const { approvals: items } = await api("GET", `/api/approvals?status=${statusPicker.value}&limit=100`);
    replace(list, items.length ? items.map((item) =>
      item.status === "pending"
        ? approvalCard(item)
        : el("div", { class: "card" }, el("h3", { text: `${item.tool}: ${item.status}` }),
            el("p", { text: `${item.reason} · decided by ${item.decided_by ?? "—"} · ${time(item.decided_at)}` }))
    ) : el("p", { class: "muted", text: "Nothing here." }));
  }
  statusPicker.addEventListener("change", () => load().catch((e) => list.replaceChildren(notice(e.message))));
  replace(view, el("h1", { text: "Approvals" }), el("label", { text: "Show " }, statusPicker), list);
  await load();
  const timer = setInterval(() => { if (statusPicker.value === "pending") load().catch(() => {}); }, 2000);
  return () => clearInterval(timer);
}
