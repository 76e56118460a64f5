// Memory: search (with the keyword and vector ranks behind each hit), view, store, forget.
import { api } from "/ui/api.js";
import { el, field, notice, replace, time } from "/ui/dom.js";

export async function memory(view) {
  const query = el("input", { type: "search", required: true });
  const results = el("div", { class: "list", "aria-live": "polite" });
  const search = el("form", { class: "row", role: "search", "aria-label": "Search memory" },
    field("Search memories", query), el("button", { type: "submit", text: "Search" }));

  function card(hit) {
    const record = hit.memory ?? hit;
    return el("article", { class: "card memory" },
      el("h3", { text: record.title || record.id }),
      el("p", { class: "muted", text: `${record.type} · ${record.trust} · ${time(record.created_at)} · score ${Number(hit.score ?? 0).toFixed(3)} · keyword rank ${hit.keyword_rank ?? "—"} · vector rank ${hit.vector_rank ?? "—"}` }),
      el("pre", { class: "output", text: record.content ?? record.body ?? "" }),
      el("button", { type: "button", class: "secondary", text: "Edit", onclick: (event) => edit(event.target.closest("article"), record) }),
      el("button", { type: "button", class: "danger", text: "Forget", onclick: async (event) => {
        try {
          await api("DELETE", `/api/memory/${encodeURIComponent(record.id)}`);
          event.target.closest("article").replaceWith(el("p", { class: "muted", text: `Forgot ${record.id}.` }));
        } catch (error) { event.target.after(notice(error.message)); }
      } }));
  }

  /** Edits a memory's Markdown body (and title) in place; its trust and provenance stay. */
  function edit(article, record) {
    const title = el("input", { value: record.title ?? "" });
    const body = el("textarea", { rows: 6, required: true });
    body.value = record.content ?? record.body ?? "";
    const form = el("form", { class: "edit", "aria-label": `Edit ${record.id}` }, field("Title", title), field("Content", body),
      el("button", { type: "submit", text: "Save" }),
      el("button", { type: "button", class: "secondary", text: "Cancel", onclick: () => form.remove() }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const saved = await api("PUT", `/api/memory/${encodeURIComponent(record.id)}`, { content: body.value, title: title.value || undefined });
        article.replaceWith(card({ memory: saved, score: 0 }));
      } catch (error) { form.append(notice(error.message)); }
    });
    article.append(form);
    body.focus();
  }

  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const { results: hits } = await api("POST", "/api/memory/search", { query: query.value, limit: 20 });
      replace(results, hits.length ? hits.map(card) : el("p", { class: "muted", text: "No memory matches." }));
    } catch (error) { replace(results, notice(error.message)); }
  });

  const content = el("textarea", { rows: 3, required: true });
  const title = el("input");
  const store = el("form", { class: "card", "aria-label": "Store a memory" }, el("h2", { text: "Remember something" }),
    field("Title", title), field("Content", content), el("button", { type: "submit", text: "Store" }));
  store.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = await api("POST", "/api/memory", { content: content.value, title: title.value || undefined });
      content.value = ""; title.value = "";
      store.append(el("p", { class: "notice ok", role: "status", text: `Stored ${saved.id}.` }));
    } catch (error) { store.append(notice(error.message)); }
  });
  replace(view, el("h1", { text: "Memory" }), search, results, store);
  query.focus();
}
