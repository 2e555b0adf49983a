// The admin pages work without this file; it only adds comfort. It is a static file
// (no inline script), so it runs under a strict Content-Security-Policy.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Times: the server writes UTC; show the reader's local time, the UTC value stays on hover.
  const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const time of document.querySelectorAll("time[datetime]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) {
      time.textContent = local.format(moment);
      time.dataset.local = "1";
    }
  }

  // Reply boxes: a live count against WhatsApp's limit (characters, as the server counts them).
  for (const box of document.querySelectorAll("textarea[data-limit]")) {
    const limit = Number(box.dataset.limit);
    const counter = document.getElementById(box.id + "-count");
    if (!counter) continue;
    const update = () => {
      const length = Array.from(box.value.replace(/\r\n/g, "\n").trim()).length;
      const over = length - limit;
      counter.textContent = `${length.toLocaleString("en")} of ${limit.toLocaleString("en")} characters` +
        (over > 0 ? `: ${over.toLocaleString("en")} too many, it cannot be saved like this` : "");
      counter.classList.toggle("over", over > 0);
    };
    box.addEventListener("input", update);
    update();
  }

  // Review reason boxes: Enter records nothing (the form's default button is disabled); say so.
  for (const input of document.querySelectorAll("input[data-enter-hint]")) {
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const hint = document.getElementById(input.dataset.enterHint);
      if (hint) hint.textContent = "Enter does not record a decision: press Tab to reach “Not an opt-out” or “Opt out”.";
    });
  }

  // Bulk decisions: tick all on the page; refuse to send an empty selection.
  const all = document.getElementById("select-all");
  const picks = () => Array.from(document.querySelectorAll("input.pick"));
  if (all) {
    all.addEventListener("change", () => { for (const pick of picks()) pick.checked = all.checked; });
  }
  for (const button of document.querySelectorAll("[data-needs-selection]")) {
    button.addEventListener("click", (event) => {
      if (picks().some((pick) => pick.checked)) return;
      event.preventDefault();
      const hint = document.getElementById("bulk-hint");
      if (hint) hint.textContent = "Tick at least one message first (or use a filter and decide everything it selects).";
    });
  }
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
});
