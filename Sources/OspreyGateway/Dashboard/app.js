// The dashboard's shell: sign-in, the page router (#/page), and the pending-approvals badge.
import { api, ApiError, token } from "/ui/api.js";
import { el, field, notice, replace } from "/ui/dom.js";
import { chat } from "/ui/chat.js";
import { approvals } from "/ui/approvals.js";
import { tasks } from "/ui/tasks.js";
import { memory } from "/ui/memory.js";
import { audit } from "/ui/audit.js";
import { costs } from "/ui/costs.js";
import { system } from "/ui/system.js";
import { channels } from "/ui/channels.js";

const pages = { chat, approvals, tasks, memory, audit, costs, channels, system };
const main = document.getElementById("main");
let leave = null; // what the current page stops when another opens (streams, timers)

function signIn(message) {
  document.getElementById("nav").hidden = true;
  const input = el("input", { type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const form = el(
    "form",
    { class: "card narrow", "aria-label": "Sign in" },
    el("h1", { text: "Sign in" }),
    el("p", { text: "Paste an API token (osprey tokens create, or the home's token file). It stays in this tab." }),
    field("API token", input),
    message ? notice(message) : null,
    el("button", { type: "submit", text: "Sign in" }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    token.set(input.value.trim());
    try {
      await api("GET", "/api/status");
      location.hash = location.hash && location.hash !== "#/" ? location.hash : "#/chat";
      route();
    } catch (error) {
      token.clear();
      signIn(
        error instanceof ApiError && error.status === 401
          ? `That token was not accepted: ${error.message}`
          : `The gateway could not be reached: ${error.message}`,
      );
    }
  });
  replace(main, form);
  input.focus();
}

async function route() {
  leave?.();
  leave = null;
  if (!token.get()) return signIn();
  document.getElementById("nav").hidden = false;
  const name = (location.hash.replace(/^#\//, "").split("/")[0] || "chat").toLowerCase();
  const page = pages[name] ?? chat;
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name}`);
  }
  const view = el("section", { class: "page", "aria-label": name });
  replace(main, view);
  try {
    leave = (await page(view)) ?? null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      token.clear();
      return signIn("Your token is no longer accepted; sign in again.");
    }
    view.append(notice(error.message));
  }
}

async function refreshBadge() {
  if (!token.get() || document.getElementById("nav").hidden) return;
  try {
    const { approvals: pending } = await api("GET", "/api/approvals?status=pending");
    const badge = document.getElementById("pending-count");
    badge.hidden = pending.length === 0;
    badge.textContent = String(pending.length);
  } catch {
    // the page shows errors; the badge just waits for the next try
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  token.clear();
  location.hash = "";
  route();
});
window.addEventListener("hashchange", route);
setInterval(refreshBadge, 2000);
route();
refreshBadge();
