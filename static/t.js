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
  var COOKIE = "_lt_vid", QUEUE = "_lt_q", ASIDE = "_lt_aside", TOUCH = "_lt_touch", MAX_QUEUE = 100;
  // A batch answered 5xx this many times is set aside so newer events go first; one set aside
  // is retried after later sends succeed, and dropped after MAX_ATTEMPTS answers in all.
  var SET_ASIDE_AFTER = 3, MAX_ATTEMPTS = 6, ASIDE_DELAY = 30000;
  var TWO_YEARS = 63072000;
  var SKIP_FIELD = /pass|card|cc-|cvc|cvv|iban|ssn|secret|token|csrf|captcha/i;
  if (attr("gpc") === "honor" && navigator.globalPrivacyControl) return;

  var consent = !NEEDS_CONSENT, vid = null, queue = [], aside = [], timer = 0, backoff = 1000, sending = 0;
  var lastUrl = null, touch = null, xdToken = null;

  function safe(fn) {
    return function () { try { return fn.apply(this, arguments); } catch (e) { /* never break the page */ } };
  }
  // At most max code points (what the collector counts), never half of a surrogate pair: a
  // lone surrogate is replaced by U+FFFD, as the collector refuses strings holding one.
  function cut(value, max) {
    var s = String(value), out = "", n = 0;
    for (var i = 0; i < s.length && n < max; i++, n++) {
      var c = s.charCodeAt(i), next = s.charCodeAt(i + 1);
      if (c >= 0xD800 && c <= 0xDBFF && next >= 0xDC00 && next <= 0xDFFF) { out += s.charAt(i) + s.charAt(i + 1); i++; }
      else out += c >= 0xD800 && c <= 0xDFFF ? "\uFFFD" : s.charAt(i);
    }
    return out;
  }
  function rid(n) {
    var a = new Uint8Array(n), s = "";
    (w.crypto || w.msCrypto).getRandomValues(a);
    for (var i = 0; i < n; i++) s += (a[i] + 256).toString(16).slice(1);
    return s;
  }
  function store(kind) { try { return w[kind]; } catch (e) { return null; } }
  function getCookie(name) {
    var m = d.cookie.match(new RegExp("(?:^|;\\s*)" + (name || "_lt_vid") + "=([^;]+)"));
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
    if (ls) { ls.removeItem(COOKIE); ls.removeItem(QUEUE); ls.removeItem(ASIDE); }
    vid = null;
    queue = [];
    aside = [];
  }

  // The landing touch: UTMs and the first click id, with the time they were first seen.
  function captureTouch() {
    var q = new URLSearchParams(location.search), t = {}, found = 0, ss = store("sessionStorage");
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"].forEach(function (p) {
      if (q.get(p)) { t[p] = cut(q.get(p), 500); found = 1; }
    });
    for (var i = 0; i < CLICK_IDS.length; i++) {
      if (q.get(CLICK_IDS[i])) { t.click_id_kind = CLICK_IDS[i]; t.click_id = cut(q.get(CLICK_IDS[i]), 500); found = 1; break; }
    }
    if (found) {
      t.seen_at = Date.now();
      t.url = cut(location.href, 2048);
      if (d.referrer) t.ref = cut(d.referrer, 2048);
      if (ss) ss.setItem(TOUCH, JSON.stringify(t));
      return t;
    }
    return null;
  }
  function pendingTouch() {
    var ss = store("sessionStorage"), raw = ss && ss.getItem(TOUCH);
    return raw ? JSON.parse(raw) : null;
  }

  // Queue entries: {p: "/collect" or "/identify", e: event or identify body, n: 5xx answers,
  // at: when a set-aside entry may be tried again}. Plain events are a queue saved by an
  // older snippet.
  function entry(x) { return x && x.p ? x : { p: "/collect", e: x, n: 0 }; }
  function saveQueue() {
    var ls = store("localStorage");
    if (!ls || !consent) return;
    ls.setItem(QUEUE, JSON.stringify(queue));
    ls.setItem(ASIDE, JSON.stringify(aside.slice(-MAX_QUEUE)));
  }
  function loadQueue(ls) {
    var saved = JSON.parse(ls.getItem(QUEUE) || "[]") || [], later = JSON.parse(ls.getItem(ASIDE) || "[]") || [];
    queue = saved.map(entry).concat(queue);
    aside = later.map(entry);
  }
  function body(events) {
    var b = { k: KEY, vid: visitor(), sent_at: Date.now(), events: events };
    if (NEEDS_CONSENT) b.consent = true;
    return JSON.stringify(b);
  }
  // The head of a list as one request: consecutive events (up to 100), or one identify.
  // A batch that failed is retried as it was (tag b), so newer events never join a poison one.
  function nextBatch(list) {
    var batch = [], tag = list[0].b;
    if (tag) return list.filter(function (x) { return x.b === tag; });
    for (var i = 0; i < list.length && batch.length < 100; i++) {
      if (list[i].p !== list[0].p || (batch.length && list[i].p === "/identify")) break;
      batch.push(list[i]);
    }
    return batch;
  }
  function text(batch) {
    if (batch[0].p === "/collect") return body(batch.map(function (x) { return x.e; }));
    var b = { sent_at: Date.now() }, e = batch[0].e;
    for (var k in e) b[k] = e[k];
    return JSON.stringify(b);
  }
  function post(path, text, done) {
    if (!w.fetch) { navigator.sendBeacon && navigator.sendBeacon(API + path, text); done && done(200); return; }
    // keepalive while the page is going away, and for identify (a submit may leave the page);
    // the browser caps keepalive bodies at 64 KB.
    fetch(API + path, { method: "POST", body: text, keepalive: path === "/identify" || d.visibilityState === "hidden",
      credentials: "include", headers: { "Content-Type": "text/plain" } })
      .then(function (r) { done && done(r.status); }, function () { done && done(0); });
  }
  function remove(list, batch) { return list.filter(function (x) { return batch.indexOf(x) < 0; }); }
  // Sends the oldest queued batch, else a set-aside one that is due. Stored (2xx) or refused
  // for good (4xx but 408/429): done. No answer, 408 or 429: kept, retried with backoff.
  // 5xx: retried with backoff, set aside after SET_ASIDE_AFTER answers (newer batches go
  // first), dropped after MAX_ATTEMPTS. Retries carry the same ids: the server ignores repeats.
  var flush = safe(function () {
    clearTimeout(timer);
    if (!consent || sending) return;
    var now = Date.now(), fromAside = !queue.length, batch;
    if (fromAside) {
      if (!aside.length) return;
      if (aside[0].at > now) { timer = setTimeout(flush, aside[0].at - now); return; }
      batch = nextBatch(aside.filter(function (x) { return x.at <= now; }));
    } else batch = nextBatch(queue);
    sending = 1;
    post(batch[0].p, text(batch), safe(function (status) {
      sending = 0;
      var delay = 0, done = status >= 200 && status < 500 && status !== 408 && status !== 429;
      if (done) {
        backoff = 1000;
        var ss = store("sessionStorage");
        if (ss && batch.some(function (x) { return x.e.touch; })) ss.removeItem(TOUCH);
      } else if (status >= 500) {
        var tag = batch[0].b || rid(4);
        batch.forEach(function (x) { x.n = (x.n || 0) + 1; x.b = tag; });
        done = batch[0].n >= MAX_ATTEMPTS;
        if (!done && !fromAside && batch[0].n >= SET_ASIDE_AFTER) {
          queue = remove(queue, batch);
          aside = aside.concat(batch);
        }
        if (!done && (fromAside || batch[0].n >= SET_ASIDE_AFTER)) {
          batch.forEach(function (x) { x.at = Date.now() + ASIDE_DELAY * Math.pow(2, x.n - SET_ASIDE_AFTER); });
          aside.sort(function (a, b) { return a.at - b.at; });
        } else if (!done) delay = backoff = Math.min(backoff * 2, 60000);
      } else {
        delay = backoff = Math.min(backoff * 2, 60000);
      }
      if (done) { queue = remove(queue, batch); aside = remove(aside, batch); }
      saveQueue();
      if (queue.length || aside.length) timer = setTimeout(flush, delay);
    }));
  });
  var flushOnHide = safe(function () {
    if (!consent || !queue.length || !navigator.sendBeacon) return;
    for (var rest = queue, sent = 0; rest.length && sent < 4; sent++) {
      var batch = nextBatch(rest);
      navigator.sendBeacon(API + batch[0].p, text(batch));
      rest = rest.slice(batch.length);
    }
    saveQueue();  // kept until a later load confirms: the server ignores repeated ids
  });

  function push(item, now) {
    queue.push(item);
    // When full, the oldest event goes; an identify (a lead) is kept.
    for (var i = 0; queue.length > MAX_QUEUE && i < queue.length; i++) {
      if (queue[i].p === "/collect") queue.splice(i, 1);
    }
    saveQueue();
    clearTimeout(timer);
    timer = setTimeout(flush, now ? 0 : 1000);
  }
  function enqueue(event, now) {
    event.id = rid(16);
    event.ts = Date.now();
    push({ p: "/collect", e: event, n: 0 }, now);
  }
  function pageEvent(type) {
    var e = { type: type, url: cut(location.href, 2048), title: cut(d.title, 200),
      sw: screen.width, sh: screen.height, lang: cut(navigator.language || "", 35) };
    var ref = lastUrl || d.referrer;
    if (ref) e.ref = cut(ref, 2048);
    return e;
  }
  var pageview = safe(function () {
    if (location.href === lastUrl) return;
    var e = pageEvent("pageview"), fresh = captureTouch();
    if (fresh || (!lastUrl && (touch = pendingTouch()))) e.touch = fresh || touch;
    lastUrl = location.href;
    enqueue(e, true);
  });
  function track(name, props) { var e = pageEvent("custom"); e.name = cut(name, 100); if (props) e.props = wellFormed(props); enqueue(e); }

  function wellFormed(props) {
    var out = {};
    for (var k in props) out[cut(k, 64)] = typeof props[k] === "string" ? cut(props[k], 2048) : props[k];
    return out;
  }

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
      if (kind === "name") names.push(v); else if (!who[kind]) who[kind] = cut(v, 200);
    }
    if (names.length) who.name = cut(names.join(" "), 200);
    var meta = { id: form.id || null, name: form.getAttribute("name") || null, action: cut(form.getAttribute("action") || "", 200) || null };
    if (who.email) identify(who, meta);
    else { var e = pageEvent("form_submit"); e.props = { form_id: meta.id || "", form_name: meta.name || "" }; enqueue(e, true); flushOnHide(); }
  });
  // Identify goes through the queue like events: stored before it is sent, retried with its id
  // until the collector answers, after the events queued before it (the visitor's first).
  function identify(who, form) {
    if (!consent || !who || !who.email) return;
    var e = pageEvent(form ? "form_submit" : "identify"), payload = { k: KEY, vid: visitor(), id: rid(16), ts: Date.now(),
      url: e.url, title: e.title, email: cut(who.email, 254) };
    ["name", "phone", "company"].forEach(function (k) { if (who[k]) payload[k] = cut(who[k], 200); });
    if (e.ref) payload.ref = e.ref;
    if (form) payload.form = form;
    if (NEEDS_CONSENT) payload.consent = true;
    // The ad platforms' own browser ids, so conversions sent later match this browser.
    var ids = {};
    [["ga", "_ga"], ["fbp", "_fbp"], ["fbc", "_fbc"]].forEach(function (c) { var v = getCookie(c[1]); if (v) ids[c[0]] = cut(v, 200); });
    for (var k in ids) { payload.ad_ids = ids; break; }
    push({ p: "/identify", e: payload, n: 0 }, true);
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
      var ls = store("localStorage");
      if (ls) loadQueue(ls);
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
