// The graph page's one script (no build, no dependencies besides the site's htmx). Without it every node is a
// link that reloads the page with the node clicked; with it a click or tap loads the node's panel in place,
// keeps clickedId in the address (shareable, like Neuronpedia's qParams), and hovering a node lights its links.
(function () {
  "use strict";
  function svg() { return document.getElementById("graph-svg"); }

  function light(nodeId, on) {
    var root = svg();
    if (!root) return;
    root.classList.toggle("focus", on);
    root.querySelectorAll("line.link").forEach(function (line) {
      var touches = line.dataset.source === nodeId || line.dataset.target === nodeId;
      line.classList.toggle("lit", on && touches);
    });
  }

  function select(nodeId) {
    var root = svg();
    if (!root || nodeId.indexOf("supernode:") === 0) return false;
    var params = new URLSearchParams(window.location.search);
    params.set("clickedId", nodeId);
    params.delete("group");
    window.history.replaceState(null, "", "?" + params.toString());
    root.querySelectorAll(".gnode.clicked").forEach(function (el) { el.classList.remove("clicked"); });
    root.querySelectorAll(".gnode").forEach(function (el) {
      if (el.dataset.node === nodeId) el.classList.add("clicked");
    });
    light(nodeId, true);
    offerForIntervention(root, nodeId);
    var url = root.dataset.nodeUrl.replace("NODE", encodeURIComponent(nodeId)) + "?" + params.toString();
    window.htmx.ajax("GET", url, { target: "#node-panel", swap: "innerHTML" }).then(function () {
      var panel = document.getElementById("node-panel");
      if (panel && window.innerWidth < 800) panel.scrollIntoView({ behavior: "smooth", block: "start" });
    });
    return true;
  }

  // The interventions form offers the clicked node (a feature or neuron node only: others cannot be scaled).
  function offerForIntervention(root, nodeId) {
    var select = document.getElementById("intervene-nodes");
    var node = root.querySelector('.gnode[data-node="' + nodeId + '"]');
    if (!select || !node || !node.classList.contains("kind-feature")) return;
    var option = select.querySelector("option[data-clicked]");
    if (!option) {
      option = document.createElement("option");
      option.dataset.clicked = "1";
      select.insertBefore(option, select.firstChild);
    }
    option.value = nodeId;
    option.textContent = "the clicked node " + nodeId;
    select.value = nodeId;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-node]");
    if (!link || !window.htmx || !svg()) return;
    if (select(link.dataset.node)) event.preventDefault();
  });
  document.addEventListener("mouseover", function (event) {
    var node = event.target.closest && event.target.closest(".gnode");
    if (node) light(node.dataset.node, true);
  });
  document.addEventListener("mouseout", function (event) {
    var node = event.target.closest && event.target.closest(".gnode");
    if (!node) return;
    var clicked = document.querySelector(".gnode.clicked");
    if (clicked) light(clicked.dataset.node, true); else light("", false);
  });
  // A graph a little wider than its box (a desktop screen) is scaled to fit it, so the whole graph shows at once;
  // a much wider one (a long prompt, or any graph on a phone) keeps its size and scrolls, so labels stay legible.
  function fit() {
    var root = svg();
    if (!root) return;
    var natural = root.width.baseVal.value, room = root.parentElement.clientWidth;
    var scaled = natural > room && natural <= 1.6 * room;
    root.style.width = scaled ? "100%" : "";
    root.style.height = scaled ? "auto" : "";
  }
  window.addEventListener("resize", fit);
  document.addEventListener("DOMContentLoaded", function () {
    fit();
    var clicked = document.querySelector(".gnode.clicked");
    if (clicked) light(clicked.dataset.node, true);
  });
})();
