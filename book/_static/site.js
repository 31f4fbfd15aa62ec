// Every computed figure opens full size in a new tab when clicked (issue 8: legible figures).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".cell_output img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "figure-full-size";
    link.title = "Open the figure full size";
    img.replaceWith(link);
    link.appendChild(img);
  });
});

// A display formula wider than the column is scaled down to fit, to at most 60 % of its size;
// beyond that it scrolls inside its own box (site.css), never the page. MathJax 3 (CHTML) sizes
// everything in em, so the container's font size scales the whole formula.
const MIN_FORMULA_SCALE = 0.6;
function fitDisplayMath() {
  document.querySelectorAll('mjx-container[display="true"]').forEach((box) => {
    box.style.fontSize = "";
    const scale = box.clientWidth / box.scrollWidth;
    if (scale < 1) box.style.fontSize = `${Math.max(MIN_FORMULA_SCALE, scale) * 100}%`;
  });
}

// MathJax 3 never breaks an inline formula, so one wider than its paragraph (a chain of
// inequalities on a phone) would run past the column and be cut off. Such a formula is scaled
// down to fit, like a display formula, to at most 60 % of its size; beyond that it becomes a box
// as wide as the paragraph that scrolls sideways (class wide-inline in site.css).
function fitInlineMath() {
  document.querySelectorAll('mjx-container:not([display="true"])').forEach((box) => {
    box.classList.remove("wide-inline");
    box.style.fontSize = "";
    let block = box.parentElement;
    while (block && getComputedStyle(block).display.startsWith("inline")) block = block.parentElement;
    if (!block) return;
    const width = box.getBoundingClientRect().width, room = block.clientWidth;
    if (width <= room + 1) return;
    const scale = room / width;
    box.style.fontSize = `${Math.max(MIN_FORMULA_SCALE, scale) * 100}%`;
    if (scale < MIN_FORMULA_SCALE) box.classList.add("wide-inline");
  });
}
function fitMath() {
  fitDisplayMath();
  fitInlineMath();
}
document.addEventListener("DOMContentLoaded", () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(fitMath);
    window.addEventListener("resize", fitMath);
  }
});
