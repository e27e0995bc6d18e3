/* LeadTrail call tracking: swaps the site's phone number for the one the collector assigns
   this visitor (dynamic number insertion). Load it next to t.js:
     <script async src="https://collect.example.com/calls.js" data-key="wk_…"></script>
   It swaps elements marked class="lt-phone" (their text and tel: link) and any text or tel:
   link showing the site's default number. Without JavaScript, or when nothing is assigned,
   the page keeps the default number it was written with. Never throws into the host page. */
(function (w, d) {
  "use strict";
  var script = d.currentScript || d.querySelector("script[src*='calls.js'][data-key]");
  if (!script || w.__leadtrailCalls || !w.fetch) return;
  w.__leadtrailCalls = 1;
  var KEY = script.getAttribute("data-key");
  var API = (script.getAttribute("data-api") || script.src.replace(/\/calls\.js.*$/, "")).replace(/\/$/, "");
  // The snippet stores the visitor once it starts, and its first page view may still be on
  // its way: a visitor whose session is not stored yet is asked again a little later.
  var TRIES = 4, DELAY = 800;

  function visitorId() {
    var m = d.cookie.match(/(?:^|;\s*)_lt_vid=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    try { return w.localStorage.getItem("_lt_vid"); } catch (e) { return null; }
  }

  function swapText(root, from, to) {
    if (!from || from === to) return;
    var walker = d.createTreeWalker(root, NodeFilter.SHOW_TEXT, null), node, found = [];
    while ((node = walker.nextNode())) if (node.nodeValue.indexOf(from) >= 0) found.push(node);
    found.forEach(function (n) { n.nodeValue = n.nodeValue.split(from).join(to); });
  }

  function swap(answer) {
    var tel = "tel:" + answer.number;
    d.querySelectorAll(".lt-phone").forEach(function (el) {
      el.textContent = answer.display;
      if (el.tagName === "A") el.setAttribute("href", tel);
    });
    if (answer.default_number) {
      d.querySelectorAll("a[href^='tel:']").forEach(function (a) {
        var digits = a.getAttribute("href").slice(4).replace(/[^\d+]/g, "");
        if (digits === answer.default_number) a.setAttribute("href", tel);
      });
      swapText(d.body, answer.default_display, answer.display);
    }
    d.documentElement.setAttribute("data-lt-number", answer.number);
  }

  function ask(tries) {
    var vid = visitorId();
    if (!vid) { if (tries > 1) setTimeout(function () { ask(tries - 1); }, DELAY); return; }
    fetch(API + "/calls/number", { method: "POST", body: JSON.stringify({ k: KEY, vid: vid }) })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (!answer) return;
        if (answer.pool) swap(answer);
        else if (tries > 1) setTimeout(function () { ask(tries - 1); }, DELAY);
      })["catch"](function () {});
  }

  function start() { try { ask(TRIES); } catch (e) { /* never break the page */ } }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", start);
  else start();
})(window, document);
