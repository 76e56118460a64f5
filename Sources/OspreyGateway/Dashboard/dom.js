// Building the page: every text from the API (a model's answer, a tool's output, a memory) goes in as text, never
// as HTML, so nothing a model or a tool wrote can run in the page.

/** An element with attributes (on* keys become listeners) and children (strings become text nodes). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Appends children: nodes as they are, anything else as text. */
export function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** A labelled form field. */
export function field(label, control) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text: label }), control);
}

/** A message line for errors and notices. */
export function notice(text, kind = "error") {
  return el("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status", text });
}

/** A local, readable time for an RFC 3339 timestamp. */
export function time(stamp) {
  if (!stamp) return "—";
  const date = new Date(stamp);
  return Number.isNaN(date.getTime()) ? String(stamp) : date.toLocaleString();
}

/** A collapsible block (tool calls, results, details). */
export function details(summary, ...body) {
  return el("details", {}, el("summary", { text: summary }), ...body);
}
