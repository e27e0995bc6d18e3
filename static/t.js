/* LeadTrail snippet: first-party page views, landing touch, forms and identify.
   Wire format: docs/collect-protocol.md. Never throws into the host page. */
(function (w, d) {
  "use strict";
  var script = d.currentScript || d.querySelector("script[data-key]");
  if (!script || w.__leadtrail) return;
  w.__leadtrail = 1;
  var attr = function (n) { return script.getAttribute("data-" + n); };
  var KEY = attr("key");
  var API = (attr("api") || script.src.replace(/\/t\.js.*$/, "")).replace(/\/$/, "");
  var NEEDS_CONSENT = attr("consent") === "required";
  var FORMS_OPT_IN = attr("forms") === "opt-in";
  var LINKED = (attr("linked") || "").split(",").filter(Boolean);
  var CLICK_IDS = "gclid gbraid wbraid dclid msclkid fbclid ttclid li_fat_id twclid epik rdt_cid".split(" ");
  var COOKIE = "_lt_vid", QUEUE = "_lt_q", TOUCH = "_lt_touch", MAX_QUEUE = 100;
  var TWO_YEARS = 63072000;
  var SKIP_FIELD = /pass|card|cc-|cvc|cvv|iban|ssn|secret|token|csrf|captcha/i;
  if (attr("gpc") === "honor" && navigator.globalPrivacyControl) return;

  var consent = !NEEDS_CONSENT, vid = null, queue = [], timer = 0, backoff = 2000, sending = 0;
  var lastUrl = null, touch = null, xdToken = null;

  function safe(fn) {
    return function () { try { return fn.apply(this, arguments); } catch (e) { /* never break the page */ } };
  }
  function rid(n) {
    var a = new Uint8Array(n), s = "";
    (w.crypto || w.msCrypto).getRandomValues(a);
    for (var i = 0; i < n; i++) s += (a[i] + 256).toString(16).slice(1);
    return s;
  }
  function store(kind) { try { return w[kind]; } catch (e) { return null; } }
  function getCookie() {
    var m = d.cookie.match(/(?:^|;\s*)_lt_vid=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : null;
  }
  // The cookie goes on the registrable domain: the shortest suffix the browser accepts.
  function setCookie(value, maxAge) {
    var base = COOKIE + "=" + encodeURIComponent(value) + "; path=/; max-age=" + maxAge + "; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
    var host = location.hostname, parts = host.split(".");
    if (parts.length < 2 || /^[\d.]+$/.test(host) || host.indexOf(":") >= 0) { d.cookie = base; return; }
    for (var i = parts.length - 2; i >= 0; i--) {
      d.cookie = base + "; domain=" + parts.slice(i).join(".");
      if (maxAge === 0 || getCookie() === value) return;
    }
  }
  function visitor() {
    if (!consent) return null;
    if (!vid) {
      var ls = store("localStorage");
      vid = getCookie() || (ls && ls.getItem(COOKIE)) || "lt1." + rid(12);
    }
    setCookie(vid, TWO_YEARS);
    var ls2 = store("localStorage");
    if (ls2) ls2.setItem(COOKIE, vid);
    return vid;
  }
  function forget() {
    setCookie("", 0);
    var ls = store("localStorage");
    if (ls) { ls.removeItem(COOKIE); ls.removeItem(QUEUE); }
    vid = null;
    queue = [];
  }

  // The landing touch: UTMs and the first click id, with the time they were first seen.
  function captureTouch() {
    var q = new URLSearchParams(location.search), t = {}, found = 0, ss = store("sessionStorage");
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"].forEach(function (p) {
      if (q.get(p)) { t[p] = q.get(p).slice(0, 500); found = 1; }
    });
    for (var i = 0; i < CLICK_IDS.length; i++) {
      if (q.get(CLICK_IDS[i])) { t.click_id_kind = CLICK_IDS[i]; t.click_id = q.get(CLICK_IDS[i]).slice(0, 500); found = 1; break; }
    }
    if (found) {
      t.seen_at = Date.now();
      t.url = location.href.slice(0, 2048);
      if (d.referrer) t.ref = d.referrer.slice(0, 2048);
      if (ss) ss.setItem(TOUCH, JSON.stringify(t));
      return t;
    }
    return null;
  }
  function pendingTouch() {
    var ss = store("sessionStorage"), raw = ss && ss.getItem(TOUCH);
    return raw ? JSON.parse(raw) : null;
  }

  function saveQueue() {
    var ls = store("localStorage");
    if (ls && consent) ls.setItem(QUEUE, JSON.stringify(queue.slice(-MAX_QUEUE)));
  }
  function body(events) {
    var b = { k: KEY, vid: visitor(), sent_at: Date.now(), events: events };
    if (NEEDS_CONSENT) b.consent = true;
    return JSON.stringify(b);
  }
  function post(path, text, done) {
    if (!w.fetch) { navigator.sendBeacon && navigator.sendBeacon(API + path, text); done && done(200); return; }
    // keepalive only while the page is going away (the browser caps keepalive bodies at 64 KB).
    fetch(API + path, { method: "POST", body: text, keepalive: d.visibilityState === "hidden", credentials: "include",
      headers: { "Content-Type": "text/plain" } })
      .then(function (r) { done && done(r.status); }, function () { done && done(0); });
  }
  // Sends what is queued; a failure keeps the events (same ids) for a later retry.
  var flush = safe(function () {
    clearTimeout(timer);
    if (!consent || sending || !queue.length) return;
    var batch = queue.slice(0, 100);
    sending = 1;
    post("/collect", body(batch), safe(function (status) {
      sending = 0;
      if (status && status < 500) {  // stored, or refused for good (4xx): either way, done
        queue = queue.slice(batch.length);
        backoff = 2000;
        var ss = store("sessionStorage");
        if (ss && batch.some(function (e) { return e.touch; })) ss.removeItem(TOUCH);
      } else {
        backoff = Math.min(backoff * 2, 60000);
      }
      saveQueue();
      if (queue.length) timer = setTimeout(flush, status && status < 500 ? 0 : backoff);
    }));
  });
  var flushOnHide = safe(function () {
    if (!consent || !queue.length || !navigator.sendBeacon) return;
    navigator.sendBeacon(API + "/collect", body(queue.slice(0, 100)));
    saveQueue();  // kept until a later load confirms: the server ignores repeated ids
  });

  function enqueue(event, now) {
    event.id = rid(16);
    event.ts = Date.now();
    queue.push(event);
    if (queue.length > MAX_QUEUE) queue.shift();
    saveQueue();
    clearTimeout(timer);
    timer = setTimeout(flush, now ? 0 : 1000);
  }
  function pageEvent(type) {
    var e = { type: type, url: location.href.slice(0, 2048), title: d.title.slice(0, 200),
      sw: screen.width, sh: screen.height, lang: (navigator.language || "").slice(0, 35) };
    var ref = lastUrl || d.referrer;
    if (ref) e.ref = ref.slice(0, 2048);
    return e;
  }
  var pageview = safe(function () {
    if (location.href === lastUrl) return;
    var e = pageEvent("pageview"), fresh = captureTouch();
    if (fresh || (!lastUrl && (touch = pendingTouch()))) e.touch = fresh || touch;
    lastUrl = location.href;
    enqueue(e, true);
  });
  function track(name, props) { var e = pageEvent("custom"); e.name = String(name).slice(0, 100); if (props) e.props = props; enqueue(e); }

  // Forms: contact details by heuristics; never passwords, card numbers, hidden tokens.
  function fieldKind(el) {
    var type = (el.type || "").toLowerCase(), ac = (el.autocomplete || "").toLowerCase();
    var label = (el.name + " " + el.id + " " + ac).toLowerCase();
    if (type === "password" || type === "hidden" || ac.indexOf("cc-") === 0 || SKIP_FIELD.test(label)) return null;
    if (type === "email" || /e-?mail/.test(label)) return "email";
    if (type === "tel" || /phone|mobile|tel\b/.test(label)) return "phone";
    if (/compan|organi[sz]ation/.test(label)) return "company";
    if (/(^|[^a-z])(full)?name|given|family|first|last/.test(label) && !/user/.test(label)) return "name";
    return null;
  }
  var onSubmit = safe(function (ev) {
    var form = ev.target;
    if (!form || form.tagName !== "FORM" || form.hasAttribute("data-lt-ignore")) return;
    if (FORMS_OPT_IN && !form.hasAttribute("data-lt-capture")) return;
    var who = {}, names = [];
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i], kind = fieldKind(el), v = (el.value || "").trim();
      if (!kind || !v || (el.type === "checkbox" || el.type === "radio")) continue;
      if (kind === "name") names.push(v); else if (!who[kind]) who[kind] = v.slice(0, 200);
    }
    if (names.length) who.name = names.join(" ").slice(0, 200);
    var meta = { id: form.id || null, name: form.getAttribute("name") || null, action: (form.getAttribute("action") || "").slice(0, 200) || null };
    if (who.email) identify(who, meta);
    else { var e = pageEvent("form_submit"); e.props = { form_id: meta.id || "", form_name: meta.name || "" }; enqueue(e, true); flushOnHide(); }
  });
  function identify(who, form) {
    if (!consent || !who || !who.email) return;
    var e = pageEvent(form ? "form_submit" : "identify"), payload = { k: KEY, vid: visitor(), id: rid(16), ts: Date.now(),
      sent_at: Date.now(), url: e.url, title: e.title, email: who.email, name: who.name, phone: who.phone, company: who.company };
    if (e.ref) payload.ref = e.ref;
    if (form) payload.form = form;
    if (NEEDS_CONSENT) payload.consent = true;
    flush();
    var text = JSON.stringify(payload);
    // A submit may leave the page: the beacon survives the navigation.
    if (form && navigator.sendBeacon) navigator.sendBeacon(API + "/identify", text);
    else post("/identify", text);
  }

  // Cross-domain: links to the site's other domains carry a short-lived signed visitor id.
  var refreshToken = safe(function () {
    if (!LINKED.length || !consent || !w.fetch) return;
    fetch(API + "/xd/sign", { method: "POST", body: JSON.stringify({ k: KEY, vid: visitor() }), credentials: "include" })
      .then(function (r) { return r.ok ? r.json() : null; }).then(function (j) { xdToken = j && j.token; }, function () {});
  });
  var decorate = safe(function (ev) {
    var a = ev.target && ev.target.closest && ev.target.closest("a[href]");
    if (!a || !xdToken || a.hostname === location.hostname) return;
    for (var i = 0; i < LINKED.length; i++) {
      var dom = LINKED[i];
      if (a.hostname === dom || a.hostname.slice(-dom.length - 1) === "." + dom) {
        var u = new URL(a.href);
        u.searchParams.set("_lt_x", xdToken);
        a.href = u.toString();
        return;
      }
    }
  });
  function adoptThenStart(start) {
    var u = new URL(location.href), token = u.searchParams.get("_lt_x");
    if (!token) return start();
    u.searchParams.delete("_lt_x");
    history.replaceState(history.state, "", u.toString());
    if (!consent || !w.fetch) return start();
    fetch(API + "/xd/adopt", { method: "POST", body: JSON.stringify({ k: KEY, token: token }), credentials: "include" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j && j.vid) { vid = j.vid; visitor(); } start(); }, start);
  }

  var api = safe(function (cmd, a, b) {
    if (cmd === "consent") {
      if (a) { var was = consent; consent = true; if (!was) { visitor(); saveQueue(); flush(); refreshToken(); } }
      else { consent = false; forget(); }
    } else if (cmd === "track") track(a, b);
    else if (cmd === "page") { lastUrl = null; pageview(); }
    else if (cmd === "identify") identify(a, null);
  });
  var start = safe(function () {
    if (consent) {
      var ls = store("localStorage"), saved = ls && ls.getItem(QUEUE);
      if (saved) queue = JSON.parse(saved) || [];
      visitor();
      refreshToken();
    }
    pageview();
    ["pushState", "replaceState"].forEach(function (m) {
      var orig = history[m];
      history[m] = function () { var r = orig.apply(this, arguments); setTimeout(pageview, 0); return r; };
    });
    w.addEventListener("popstate", pageview);
    w.addEventListener("pagehide", flushOnHide);
    d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") flushOnHide(); });
    d.addEventListener("submit", onSubmit, true);
    d.addEventListener("mousedown", decorate, true);
    d.addEventListener("keydown", decorate, true);
    setInterval(refreshToken, 1200000);
    var pending = (w.leadtrail && w.leadtrail.q) || [];
    w.leadtrail = api;
    for (var i = 0; i < pending.length; i++) api.apply(null, pending[i]);
  });
  safe(adoptThenStart)(start);
})(window, document);
