// Chat: pick a session (or start one with an agent), send, watch the answer stream with its tool calls, approve
// what waits for a human inline, cancel a run.
import { api, stream } from "/ui/api.js";
import { details, el, field, notice, replace } from "/ui/dom.js";
import { approvalCard } from "/ui/approvals.js";

/** A transcript entry: the role, then text, tool calls and results (collapsible). */
function entry(message) {
  const box = el("article", { class: `msg ${message.role}` }, el("h3", { text: message.role }));
  for (const part of message.content ?? []) {
    if (part.type === "text" && part.text) box.append(el("p", { class: "text", text: part.text }));
    if (part.type === "tool_call") box.append(toolCall(part.id ?? part.call_id, part.name, part.arguments));
    if (part.type === "tool_result") box.append(toolResult(part));
  }
  return box;
}

function toolCall(id, name, argumentsText) {
  return details(`tool call: ${name}`, el("pre", { class: "args", "data-call": id ?? "", text: argumentsText ?? "" }));
}

function toolResult(result) {
  const label = `${result.is_error ? "tool error" : "tool result"}${result.untrusted ? " (untrusted)" : ""}`;
  return details(label, el("pre", { class: "output", text: result.output ?? "" }));
}

export async function chat(view) {
  const [{ sessions }, models] = await Promise.all([api("GET", "/api/sessions?limit=50"), api("GET", "/api/models")]);
  const agents = Object.keys(models.agents ?? { default: {} });
  const picker = el("select", {}, el("option", { value: "", text: "New session" }));
  for (const session of sessions) {
    picker.append(el("option", { value: session.id, text: `${session.title ?? session.id} (${session.agent})` }));
  }
  const agentPicker = el("select", {}, ...agents.map((name) => el("option", { value: name, text: name })));
  const transcript = el("div", { class: "transcript", "aria-live": "polite" });
  const input = el("textarea", { rows: 3, placeholder: "Ask the agent…", required: true });
  const send = el("button", { type: "submit", text: "Send" });
  const cancel = el("button", { type: "button", class: "secondary", text: "Cancel run", disabled: true });
  const status = el("p", { class: "status", id: "chat-status", role: "status" });
  const form = el("form", { class: "composer", "aria-label": "Send a message" }, field("Message", input), send, cancel);
  let controller = null;
  let session = "";

  async function load(id) {
    session = id;
    replace(transcript);
    if (!id) return;
    const { messages } = await api("GET", `/api/sessions/${encodeURIComponent(id)}/messages?limit=200`);
    for (const item of messages) transcript.append(entry(item.message ?? item));
  }

  picker.addEventListener("change", () => load(picker.value).catch((error) => status.replaceChildren(notice(error.message))));
  cancel.addEventListener("click", async () => {
    if (session) await api("POST", `/api/sessions/${encodeURIComponent(session)}/cancel`, {}).catch(() => {});
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    replace(status);
    try {
      if (!session) {
        const created = await api("POST", "/api/sessions", { agent: agentPicker.value });
        session = created.id;
        picker.append(el("option", { value: created.id, text: `${created.id} (${created.agent})` }));
        picker.value = created.id;
      }
      transcript.append(entry({ role: "user", content: [{ type: "text", text }] }));
      input.value = "";
      const answer = el("article", { class: "msg assistant streaming" }, el("h3", { text: "assistant" }));
      transcript.append(answer);
      // Text after a tool call goes below it, so the answer reads in the order it happened.
      let words = null;
      const say = (text) => {
        if (!words) answer.append((words = el("p", { class: "text" })));
        words.textContent += text;
      };
      const after = (node) => {
        answer.append(node);
        words = null;
      };
      controller = new AbortController();
      send.disabled = true;
      cancel.disabled = false;
      await stream(
        `/api/sessions/${encodeURIComponent(session)}/messages`,
        { content: text },
        (type, data) => {
          if (type === "text_delta") say(data.text);
          else if (type === "tool_call") after(toolCall(data.id, data.name, data.arguments));
          else if (type === "tool_result") after(toolResult(data));
          else if (type === "tool_progress") status.textContent = data.message;
          else if (type === "approval_requested") after(approvalCard(data));
          else if (type === "done") {
            if (!answer.querySelector("p.text")) say(data.response ?? "");
            status.textContent = `${data.tokens ?? 0} tokens · $${(data.cost_usd ?? 0).toFixed(4)} · ${data.duration_ms ?? 0} ms`;
          } else if (type === "error") status.replaceChildren(notice(data.error?.message ?? "The run failed."));
        },
        controller.signal,
      );
    } catch (error) {
      if (error.name !== "AbortError") status.replaceChildren(notice(error.message));
    } finally {
      send.disabled = false;
      cancel.disabled = true;
      transcript.querySelector(".streaming")?.classList.remove("streaming");
    }
  });

  replace(
    view,
    el("h1", { text: "Chat" }),
    el("div", { class: "row" }, field("Session", picker), field("Agent for a new session", agentPicker)),
    transcript,
    form,
    status,
  );
  input.focus();
  return () => controller?.abort();
}

