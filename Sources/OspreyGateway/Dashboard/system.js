// System: the gateway's status, providers and their breakers, agents, the workflow skills, and tokens (an admin can
// create and revoke them).
import { api, ApiError } from "/ui/api.js";
import { el, field, notice, replace, time } from "/ui/dom.js";

export async function system(view) {
  const [status, models, workflows, host] = await Promise.all([
    api("GET", "/api/status"), api("GET", "/api/models"), api("GET", "/api/workflows").catch(() => ({ workflows: [] })),
    api("GET", "/api/system"),
  ]);
  const layers = host.sandbox.layers.map((layer) => el("li", { class: layer.active ? "ok" : "error",
    text: `${layer.name}: ${layer.active ? "active" : "NOT active"}${layer.detail}` }));
  const failures = (object) => Object.entries(object).map(([name, why]) => el("li", { class: "error", text: `${name}: ${why}` }));
  const providers = (models.providers ?? []).map((p) => el("tr", {},
    el("td", { text: p.name }), el("td", { text: p.kind ?? "" }), el("td", { text: (p.models ?? []).join(", ") }),
    el("td", { text: typeof p.breaker === "string" ? p.breaker : JSON.stringify(p.breaker ?? p.breakers ?? "") })));
  const agents = Object.entries(models.agents ?? {}).map(([name, a]) => el("tr", {},
    el("td", { text: name }), el("td", { text: JSON.stringify(a.routes ?? a.model ?? "") }),
    el("td", { text: (a.tools ?? []).length ? `${a.tools.length} tools` : "" })));
  const tokens = el("div", { class: "tokens" });
  async function loadTokens() {
    try {
      const { tokens: list } = await api("GET", "/api/tokens");
      const name = el("input", { required: true });
      const role = el("select", {}, ...["viewer", "operator", "admin"].map((r) => el("option", { value: r, text: r })));
      const created = el("p", { role: "status" });
      const form = el("form", { class: "row", "aria-label": "Create a token" }, field("Name", name), field("Role", role),
        el("button", { type: "submit", text: "Create token" }), created);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const made = await api("POST", "/api/tokens", { name: name.value, role: role.value });
          created.textContent = `New token (shown once): ${made.token}`;
          await loadTokens();
        } catch (error) { created.replaceChildren(notice(error.message)); }
      });
      replace(tokens, el("table", {}, el("tbody", {}, ...list.map((t) => el("tr", {},
        el("td", { text: t.name }), el("td", { text: t.role }), el("td", { text: t.agent ?? "" }),
        el("td", { text: t.revoked_at ? `revoked ${time(t.revoked_at)}` : `expires ${time(t.expires_at)}` }),
        el("td", {}, t.revoked_at ? "" : el("button", { type: "button", class: "danger", text: "Revoke", onclick: async () => {
          await api("DELETE", `/api/tokens/${encodeURIComponent(t.id)}`).catch((e) => tokens.append(notice(e.message)));
          await loadTokens();
        } })))))), form);
    } catch (error) {
      replace(tokens, el("p", { class: "muted", text: error instanceof ApiError && error.status === 403 ? "Tokens are for admins." : error.message }));
    }
  }
  replace(view, el("h1", { text: "System" }),
    el("p", { text: `Osprey ${status.version} · up since ${time(status.started_at)} · ${status.events ?? "?"} events · ${status.sessions ?? "?"} sessions` }),
    el("h2", { text: "Providers" }), el("table", {}, el("tbody", {}, ...providers)),
    models.local_model ? el("p", { text: `Local model: ${JSON.stringify(models.local_model)}` }) : null,
    el("h2", { text: "Agents" }), el("table", {}, el("tbody", {}, ...agents)),
    el("h2", { text: "Sandbox" }), el("p", { text: `rung: ${host.sandbox.rung}` }), el("ul", {}, ...layers),
    el("h2", { text: "Plugins" }),
    el("ul", {}, ...host.plugins.map((p) => el("li", { text: `${p.name} ${p.version}: ${p.tools.join(", ")} — may reach ${p.may_reach}` })),
      ...failures(host.plugin_failures)),
    el("h2", { text: "Skills" }),
    el("ul", {}, ...host.skills.map((k) => el("li", { text: `${k.name}${k.workflow ? " (workflow)" : ""} — ${k.trusted ? "trusted" : "untrusted"}${k.unavailable ? `, unavailable: ${k.unavailable}` : ""}` }))),
    el("h2", { text: "MCP servers" }),
    el("ul", {}, ...host.mcp_servers.map((name) => el("li", { text: (host.mcp_connecting || []).includes(name) ? `${name} (connecting)` : name })), ...failures(host.mcp_failures)),
    el("h2", { text: "Workflow skills" }),
    el("ul", {}, ...workflows.workflows.map((w) => el("li", { text: `${w.name}: ${w.steps.map((s) => s.name).join(" → ")}${w.unavailable ? ` (unavailable: ${w.unavailable})` : ""}` }))),
    el("h2", { text: "Tokens" }), tokens);
  await loadTokens();
}
