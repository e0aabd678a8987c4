// The Contacts page: "select all" ticks every contact shown (no inline script: the CSP).
document.addEventListener("change", (event) => {
  const box = event.target;
  if (box instanceof HTMLInputElement && box.id === "select-all") {
    for (const each of document.querySelectorAll('#contacts input[name="contact_id"]')) {
      each.checked = box.checked;
    }
  }
});
