// Audit: the chain's verify result, an event explorer with filters (paged from the API), and a live tail over the
// WebSocket. The list is virtualized: only the rows in view exist in the page, so 100,000 events scroll smoothly.
import { api, socket } from "/ui/api.js";
import { el, field, notice, replace, time } from "/ui/dom.js";

const ROW = 28; // px per row

/** A scrolling list of events in seq order that renders only the rows in view; an event it already has (the live
 * tail and a page from the API may both bring it) is not added twice. */
function virtualList(render) {
  const rows = [];
  const spacer = el("div", { class: "spacer" });
  const window_ = el("div", { class: "rows" });
  const box = el("div", { class: "virtual", role: "log", tabindex: "0", "aria-label": "Events" }, spacer, window_);
  let frame = 0;
  function draw() {
    frame = 0;
    spacer.style.height = `${rows.length * ROW}px`;
    const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 10);
    const last = Math.min(rows.length, first + Math.ceil(box.clientHeight / ROW) + 20);
    window_.style.transform = `translateY(${first * ROW}px)`;
    replace(window_, ...rows.slice(first, last).map(render));
  }
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };
  box.addEventListener("scroll", schedule);
  return {
    box,
    get count() { return rows.length; },
    set(items) { rows.length = 0; rows.push(...items); schedule(); },
    add(items, follow) {
      const atEnd = box.scrollTop + box.clientHeight >= rows.length * ROW - ROW;
      const last = rows.length ? rows[rows.length - 1].seq : 0;
      const fresh = items.filter((item) => item.seq > last);
      if (!fresh.length) return;
      rows.push(...fresh);
      schedule();
      if (follow && atEnd) requestAnimationFrame(() => { box.scrollTop = rows.length * ROW; });
    },
  };
}

function row(event) {
  return el("div", { class: "event-row", "data-seq": event.seq },
    el("span", { class: "seq", text: String(event.seq) }),
    el("span", { class: "type", text: event.type }),
    el("span", { class: "actor", text: event.actor }),
    el("span", { class: "when", text: time(event.ts) }),
    el("span", { class: "payload", text: JSON.stringify(event.payload) }));
}

export async function audit(view) {
  const verdict = el("p", { class: "verify", role: "status", text: "Verifying…" });
  const type = el("input", { placeholder: "e.g. tool.call.* " });
  const session = el("input", { placeholder: "ses_…" });
  const task = el("input", { placeholder: "tsk_…" });
  const since = el("input", { type: "datetime-local" });
  const list = virtualList(row);
  const more = el("button", { type: "button", class: "secondary", text: "Load more" });
  const live = el("input", { type: "checkbox", checked: true });
  const liveState = el("span", { class: "muted", role: "status" });
  let next = 0;
  let ws = null;

  const query = () => {
    const params = new URLSearchParams({ after: String(next), limit: "1000" });
    if (type.value.trim()) params.set("type", type.value.trim());
    if (session.value.trim()) params.set("session", session.value.trim());
    if (task.value.trim()) params.set("task", task.value.trim());
    return params;
  };
  const sinceFilter = (events) => {
    if (!since.value) return events;
    const start = new Date(since.value).getTime();
    return events.filter((event) => new Date(event.ts).getTime() >= start);
  };
  async function page(reset) {
    if (reset) { next = 0; list.set([]); }
    const { events, next_after: after } = await api("GET", `/api/events?${query()}`);
    list.add(sinceFilter(events), false);
    next = Math.max(next, after ?? next);
    more.disabled = events.length < 1000;
  }
  async function tail() {
    ws?.close();
    ws = null;
    if (!live.checked) { liveState.textContent = "live tail off"; return; }
    ws = await socket();
    liveState.textContent = "live";
    ws.addEventListener("message", (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "event") {
        const event = frame.payload;
        if (event.seq > next) { list.add(sinceFilter([event]), true); next = event.seq; }
      }
    });
    ws.addEventListener("close", () => { liveState.textContent = "live tail closed"; });
    const params = { after: next };
    if (type.value.trim()) params.type = type.value.trim();
    if (session.value.trim()) params.session = session.value.trim();
    ws.send(JSON.stringify({ type: "req", id: 1, method: "subscribe", params }));
  }
  const filters = el("form", { class: "row", "aria-label": "Filter events" },
    field("Type", type), field("Session", session), field("Task", task), field("Since", since),
    el("button", { type: "submit", text: "Apply" }));
  filters.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await page(true); await tail(); } catch (error) { filters.append(notice(error.message)); }
  });
  more.addEventListener("click", () => page(false));
  live.addEventListener("change", () => tail().catch((error) => liveState.replaceChildren(notice(error.message))));
  replace(view, el("h1", { text: "Audit" }), verdict, filters,
    el("p", {}, el("label", {}, live, " Live tail "), liveState), list.box, more);
  const result = await api("GET", "/api/audit/verify");
  verdict.textContent = result.ok
    ? `The chain verifies: ${result.count} events, head ${String(result.head).slice(0, 16)}…`
    : `The chain is BROKEN at event ${result.first_bad_seq}: ${result.reason ?? ""}`;
  verdict.classList.add(result.ok ? "ok" : "error");
  await page(true);
  await tail().catch((error) => liveState.replaceChildren(notice(error.message)));
  return () => ws?.close();
}
