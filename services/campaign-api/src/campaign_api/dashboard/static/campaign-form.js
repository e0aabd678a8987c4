// The campaign form: show weekday options for weekly cadences, preselect the browser's time
// zone on a new campaign, and keep the "next five sends" preview in step with the form.
(function () {
  "use strict";
  const form = document.getElementById("campaign-form");
  const list = document.getElementById("schedule-preview");
  const days = document.getElementById("schedule-days");
  if (!form || !list) return;
  const weekly = document.getElementById("weekly-options");
  const zone = document.getElementById("timezone");
  const FIELDS = ["schedule_type", "weekly_days", "weekly_emails", "duration", "duration_unit",
    "start_date", "send_time", "timezone"];

  if (zone && zone.dataset.default === "browser") {
    const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (local && [...zone.options].some((o) => o.value === local)) zone.value = local;
  }

  function query() {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const name of FIELDS) {
      for (const value of data.getAll(name)) params.append(name, String(value));
    }
    return params;
  }

  function item(children) {
    const li = document.createElement("li");
    for (const child of children) li.appendChild(child);
    return li;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(body) {
    list.replaceChildren();
    // Which weekdays are used: with fewer emails a week than days, the most evenly spread.
    if (days) days.textContent = body.complete ? body.days : "";
    if (!body.complete || body.times.length === 0) {
      list.appendChild(item([el("span", "muted small",
        body.complete ? "No email falls in this schedule." :
          "Complete the schedule to see when emails go out.")]));
      return;
    }
    body.times.forEach((t, i) => {
      const text = el("div");
      text.appendChild(el("div", "when", t.date + " · " + t.time));
      text.appendChild(el("div", "zone", t.zone));
      list.appendChild(item([el("span", "num", String(i + 1)), text]));
    });
  }

  let timer = null;
  let latest = 0;
  function refresh() {
    if (weekly) {
      const kind = form.querySelector("input[name=schedule_type]:checked");
      weekly.hidden = !!kind && kind.value === "daily";
    }
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const ticket = ++latest;
      try {
        const response = await fetch("/dashboard/api/schedule-preview?" + query(), {
          headers: { Accept: "application/json" }, credentials: "same-origin",
        });
        if (!response.ok || ticket !== latest) return;
        render(await response.json());
      } catch (e) {
        // Offline for a moment: keep the last preview.
      }
    }, 150);
  }

  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  refresh();
})();
