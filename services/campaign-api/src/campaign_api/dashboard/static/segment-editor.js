// The segment editor: as the rule is typed, ask the dashboard for its count and first
// contacts (or its errors by path) and show them; the Preview button does the same without
// this script. No inline script: the CSP forbids it.
(function () {
  "use strict";
  const form = document.getElementById("segment-form");
  const rule = document.getElementById("rule");
  if (!form || !rule) return;
  const count = document.getElementById("segment-count");
  const sample = document.getElementById("segment-sample");
  const errors = document.getElementById("rule-errors");
  const csrf = form.querySelector('input[name="csrf_token"]').value;
  let timer = null;
  let asked = 0;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function showErrors(list) {
    errors.replaceChildren(...list.map((e) => {
      const line = el("div", undefined, "error-text");
      line.append(el("code", e.field), `: ${e.message}`);
      return line;
    }));
  }

  function showSample(found) {
    count.textContent = found.count.toLocaleString("en");
    sample.replaceChildren(...found.sample.map((c) => {
      const row = el("tr");
      const cell = el("td", undefined, "name");
      const link = el("a", c.email);
      link.href = `/dashboard/contacts/${c.id}`;
      cell.append(link);
      row.append(cell, el("td", c.name || "—"), el("td", c.status));
      return row;
    }));
  }

  async function ask() {
    const mine = ++asked;
    const body = new URLSearchParams({ csrf_token: csrf, rule: rule.value });
    try {
      const response = await fetch("/dashboard/api/segment-preview", {
        method: "POST", body, credentials: "same-origin",
      });
      const data = await response.json();
      if (mine !== asked) return; // a newer question is on its way
      if (response.ok) {
        showErrors([]);
        showSample(data);
      } else {
        count.textContent = "—";
        showErrors(data.errors || [{ field: "rule", message: "not counted" }]);
      }
    } catch (_) {
      // Offline or signed out: the Preview button still works.
    }
  }

  rule.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 400);
  });
  form.dataset.live = "on";
})();
