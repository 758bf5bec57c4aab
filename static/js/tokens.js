// Tap or click a highlighted token to see its value. Its title attribute shows the value only on hover, and
// touch screens cannot hover. One bubble for the page, placed under the token; a second tap hides it.
(() => {
  const bubble = document.createElement("span");
  bubble.className = "token-value";
  bubble.setAttribute("role", "status");
  bubble.hidden = true;
  let shown = null;

  function hide() {
    bubble.hidden = true;
    shown = null;
  }

  document.addEventListener("click", (event) => {
    const token = event.target.closest(".tokens span.tok[title]");
    if (!token || token === shown) {
      hide();
      return;
    }
    if (!bubble.isConnected) document.body.append(bubble);
    bubble.textContent = `${JSON.stringify(token.textContent)}  ${token.title}`;
    bubble.hidden = false;
    const box = token.getBoundingClientRect();
    const right = window.scrollX + document.documentElement.clientWidth - bubble.offsetWidth - 4;
    bubble.style.left = `${Math.max(window.scrollX + 4, Math.min(window.scrollX + box.left, right))}px`;
    bubble.style.top = `${window.scrollY + box.bottom + 4}px`;
    shown = token;
  });
  // A swap that replaces the shown token hides its bubble; a panel loading elsewhere on the page (connections,
  // counterparts, graphs) leaves it open.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (shown && event.detail.target.contains(shown)) hide();
  });
})();
