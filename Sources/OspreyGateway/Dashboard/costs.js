// Costs: tokens and dollars per day and agent, drawn as SVG bars by the page, and each agent's daily budget.
import { api } from "/ui/api.js";
import { el, replace } from "/ui/dom.js";

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** Stacked bars per day, one colour class per agent. */
function chart(days, agents, value, label) {
  const byDay = new Map();
  for (const row of days) {
    const entry = byDay.get(row.day) ?? {};
    entry[row.agent] = value(row);
    byDay.set(row.day, entry);
  }
  const keys = [...byDay.keys()].sort();
  const max = Math.max(1e-9, ...keys.map((day) => Object.values(byDay.get(day)).reduce((a, b) => a + b, 0)));
  const width = Math.max(320, keys.length * 28 + 60);
  const height = 180;
  const plot = svg("svg", { viewBox: `0 0 ${width} ${height + 40}`, role: "img", "aria-label": label, class: "chart" });
  plot.append(svg("title", {}, label));
  keys.forEach((day, index) => {
    let y = height;
    agents.forEach((agent, a) => {
      const amount = byDay.get(day)[agent] ?? 0;
      const bar = (amount / max) * (height - 10);
      y -= bar;
      plot.append(svg("rect", { x: 50 + index * 28, y, width: 20, height: Math.max(bar, 0), class: `series-${a % 6}` },
        svg("title", {}, `${day} ${agent}: ${amount}`)));
    });
    plot.append(svg("text", { x: 60 + index * 28, y: height + 14, "text-anchor": "middle", class: "axis" }, day.slice(5)));
  });
  plot.append(svg("text", { x: 4, y: 12, class: "axis" }, String(Number(max.toPrecision(3)))));
  return plot;
}

/** Rows keyed by `key` (agent or model) drawn as stacked bars per day, with a legend. */
function plots(rows, key, what) {
  const names = [...new Set(rows.map((row) => row[key]))].sort();
  const byKey = rows.map((row) => ({ ...row, agent: row[key] }));
  return [
    el("h2", { text: `Tokens per day by ${what}` }), chart(byKey, names, (r) => r.tokens, `Tokens per day by ${what}`),
    el("h2", { text: `Dollars per day by ${what}` }), chart(byKey, names, (r) => r.cost_usd, `Dollars per day by ${what}`),
    el("ul", { class: "legend" }, ...names.map((name, a) => el("li", { class: `series-${a % 6}`, text: name }))),
  ];
}

export async function costs(view) {
  const [{ days, models }, { budgets }] = await Promise.all([api("GET", "/api/usage?days=30"), api("GET", "/api/budgets")]);
  const budgetRows = budgets.map((b) => el("tr", {},
    el("td", { text: b.agent }),
    el("td", { text: `${b.tokens_today} / ${b.tokens_per_day || "∞"}` }),
    el("td", { text: `$${b.cost_today_usd.toFixed(4)} / ${b.cost_per_day_usd ? `$${b.cost_per_day_usd}` : "∞"}` }),
    el("td", { text: b.tokens_left === null ? "no limit" : String(b.tokens_left) }),
    el("td", {}, b.paused
      ? el("button", { type: "button", class: "secondary", text: "Resume", onclick: async (event) => {
          await api("POST", `/api/budgets/${encodeURIComponent(b.agent)}/resume`, {});
          event.target.replaceWith(el("span", { text: "resumed" }));
        } })
      : b.warned ? "warned (80 %)" : "ok")));
  replace(view, el("h1", { text: "Costs" }),
    days.length ? [...plots(days, "agent", "agent"), ...plots(models, "model", "model")]
      : el("p", { class: "muted", text: "No model calls in the last 30 days." }),
    el("h2", { text: "Budgets today (UTC)" }),
    el("table", {}, el("thead", {}, el("tr", {}, ...["agent", "tokens", "dollars", "tokens left", "state"].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...budgetRows)));
}
