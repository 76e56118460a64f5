// Tasks and schedules: list and filter, submit, details with the transcript, cancel, run a schedule now, and the
// workflow runs' steps.
import { api } from "/ui/api.js";
import { details, el, field, notice, replace, time } from "/ui/dom.js";

function taskRow(task, open) {
  return el("tr", {},
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => open(task.id), text: task.id })),
    el("td", { text: task.status }),
    el("td", { text: task.workflow ? `workflow ${task.workflow}` : task.title }),
    el("td", { text: task.agent }),
    el("td", { text: String(task.tokens) }),
    el("td", { text: time(task.created_at) }));
}

export async function tasks(view) {
  const body = el("tbody");
  const detail = el("div", { class: "detail" });
  const filter = el("select", { "aria-label": "Status filter" },
    ...["", "queued", "running", "completed", "failed", "cancelled"].map((s) => el("option", { value: s, text: s || "any status" })));
  const schedules = el("div", { class: "list" });

  async function open(id) {
    const task = await api("GET", `/api/tasks/${encodeURIComponent(id)}`);
    const parts = [el("h2", { text: `${task.title} — ${task.status}` })];
    if (task.result) parts.push(el("pre", { class: "output", text: task.result }));
    if (task.error) parts.push(notice(task.error));
    if (task.workflow) {
      const run = await api("GET", `/api/workflows/runs/${encodeURIComponent(id)}`);
      parts.push(el("ul", { class: "steps" }, ...run.steps.map((step) =>
        el("li", { text: `${step.name}: ${step.status}${step.error ? ` — ${step.error}` : ""}` }))));
    }
    if (["queued", "running"].includes(task.status)) {
      parts.push(el("button", { type: "button", class: "danger", text: "Cancel task", onclick: async () => {
        await api("POST", `/api/tasks/${encodeURIComponent(id)}/cancel`, {}).catch((e) => detail.append(notice(e.message)));
        await load(); await open(id);
      } }));
    }
    const { messages } = await api("GET", `/api/sessions/${encodeURIComponent(task.session)}/messages?limit=200`);
    parts.push(details(`transcript (${messages.length} messages)`,
      ...messages.map((m) => el("p", { class: "text", text: `${m.message.role}: ${(m.message.content ?? []).map((c) => c.text ?? c.output ?? (c.name ? `[${c.name}]` : "")).join(" ")}` }))));
    replace(detail, ...parts);
  }

  async function load() {
    const query = filter.value ? `?status=${filter.value}` : "";
    const { tasks: items } = await api("GET", `/api/tasks${query}`);
    replace(body, ...items.map((task) => taskRow(task, (id) => open(id).catch((e) => detail.replaceChildren(notice(e.message))))));
    const { schedules: list } = await api("GET", "/api/schedules");
    replace(schedules, list.length ? list.map((s) => el("div", { class: "card" },
      el("h3", { text: `${s.name}${s.workflow ? ` (workflow ${s.workflow})` : ""}${s.paused ? " — paused" : ""}` }),
      el("p", { text: `${s.spec ?? `on ${s.trigger?.event}`} · next ${time(s.next_fire_at)} · last ${time(s.last_fired_at)}` }),
      el("button", { type: "button", class: "secondary", text: "Run now", onclick: async () => {
        await api("POST", `/api/schedules/${encodeURIComponent(s.id)}/run`, {}); await load();
      } }),
      el("button", { type: "button", class: "secondary", text: s.paused ? "Resume" : "Pause", onclick: async () => {
        await api("POST", `/api/schedules/${encodeURIComponent(s.id)}/${s.paused ? "resume" : "pause"}`, {}); await load();
      } }),
      el("button", { type: "button", class: "danger", text: "Remove", onclick: async () => {
        await api("DELETE", `/api/schedules/${encodeURIComponent(s.id)}`); await load();
      } }))) : el("p", { class: "muted", text: "No schedules." }));
  }

  const title = el("input", { required: true });
  const instructions = el("textarea", { rows: 3, required: true });
  const form = el("form", { class: "card", "aria-label": "Submit a task" }, el("h2", { text: "Submit a task" }),
    field("Title", title), field("Instructions", instructions), el("button", { type: "submit", text: "Submit" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const task = await api("POST", "/api/tasks", { title: title.value, instructions: instructions.value });
      title.value = ""; instructions.value = "";
      await load(); await open(task.id);
    } catch (error) { form.append(notice(error.message)); }
  });
  filter.addEventListener("change", () => load());
  replace(view, el("h1", { text: "Tasks" }), form, el("label", { text: "Show " }, filter),
    el("table", {}, el("thead", {}, el("tr", {}, ...["id", "status", "title", "agent", "tokens", "created"].map((h) => el("th", { text: h })))), body),
    detail, el("h2", { text: "Schedules" }), schedules);
  await load();
  const timer = setInterval(() => load().catch(() => {}), 3000);
  return () => clearInterval(timer);
}
