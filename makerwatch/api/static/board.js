/* The floor board's script. Plain ECMAScript 5 with XMLHttpRequest and EventSource,
   so a cheap smart TV's browser runs it; no library, no build step. Every text comes
   from the server (the settings block), in the page's language. */
(function () {
  "use strict";

  var settings = JSON.parse(document.getElementById("settings").textContent);
  var query = parseQuery(window.location.search);
  var kiosk = query.kiosk === "1";
  var machineId = kiosk ? null : query.machine || null;  // one machine's page (?machine=ID)
  var machineData = null;  // that page's history from GET /machines/ID
  var lang = pickLanguage();
  var token = kiosk ? null : storageGet("makerwatch.token");
  var staffName = null;
  var tiles = {};      // device -> the last tile data from the server
  var elements = {};   // device -> its tile's DOM nodes
  var alerts = [];
  var history = {};    // device -> [[time ms, watts], ...] for the last hour
  var answers = {};    // device -> the last staff action's answer: {key, name, pending|confirmed}
  var offsetMs = 0;    // server clock - this clock, from each event's now_ms
  var linkState = "connecting";
  var HOUR_MS = 3600000;
  var STREAM_REFUSED_RETRY_MS = 10000;  // and up to as much again, so refused pages spread out
  var KIOSK_PAGE_TILES = 40;  // machines on one wall page; more turn pages
  var KIOSK_PAGE_S = 15;      // how long each page shows
  var KIOSK_MAX_UNIT_PX = 56; // the state word's largest size, however few machines
  var shownFilter = "all";  // the phone's filter: all, on, alerts
  var kioskPage = 0;
  var kioskPageCount = 1;
  var ICONS = { off: "\u25CB", idle: "\u25D0", active: "\u25CF", no_signal: "\u2715", never_heard: "?" };

  function parseQuery(search) {
    var result = {};
    search.replace(/^\?/, "").split("&").forEach(function (part) {
      if (!part) { return; }
      var pair = part.split("=");
      result[decodeURIComponent(pair[0])] = decodeURIComponent(pair[1] || "");
    });
    return result;
  }

  function storageGet(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function storageSet(key, value) {
    try {
      if (value === null) { window.localStorage.removeItem(key); } else { window.localStorage.setItem(key, value); }
    } catch (e) { /* a private window: the choice lasts for this page only */ }
  }

  function pickLanguage() {
    var wanted = query.lang || storageGet("makerwatch.lang") || settings.language;
    return settings.texts[wanted] ? wanted : settings.language;
  }

  function words() { return settings.texts[lang]; }

  function text(key, fields) {
    var template = words().texts[key];
    return template.replace(/\{(\w+)\}/g, function (_, name) {
      return fields && fields[name] !== undefined ? fields[name] : "";
    });
  }

  // "1 500,5" in ru and kk, "1,500.5" in en, with the language's separators from the
  // server: a TV's browser may have no locale data for kk or ru ("1,500 Вт" reads as 1.5 W).
  function number(value, digits) {
    var separators = words().separators;  // thousands, decimal
    var parts = Math.abs(value).toFixed(digits).split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, separators[0]);
    var fraction = parts[1] ? parts[1].replace(/0+$/, "") : "";
    var sign = value < 0 && Number(parts.join(".")) !== 0 ? "−" : "";
    return sign + whole + (fraction ? separators[1] + fraction : "");
  }

  // Why the server refused an action, in the reader's language: chosen by the answer's
  // HTTP status (the server's own error text is English, for logs and scripts).
  function refusal(status, body, what) {
    if (status === 401) { return text("error_bad_token"); }
    if (status === 429) { return text("error_too_many", { seconds: (body && body.retry_after_s) || "" }); }
    if (what === "alert" && status === 404) { return text("error_alert_gone"); }
    if (what === "alert" && status === 409 && body && body.alert) {
      return text("acknowledged_by", { who: body.alert.acked_by });
    }
    if (what === "alert" && status === 409) { return text("error_taken"); }
    if (what === "device" && status === 404) { return text("error_no_machine"); }
    if (what === "device" && status === 409) { return text("error_no_relay"); }
    return text("error_server", { status: status || "—" });
  }

  function duration(seconds) {
    var units = words().units;  // day, hour, minute, second
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) { return seconds + " " + units[3]; }
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) { return minutes + " " + units[2]; }
    var hours = Math.floor(minutes / 60);
    if (hours < 24) { return hours + " " + units[1] + (minutes % 60 ? " " + (minutes % 60) + " " + units[2] : ""); }
    var days = Math.floor(hours / 24);
    return days + " " + units[0] + (hours % 24 ? " " + (hours % 24) + " " + units[1] : "");
  }

  function now() { return Date.now() + offsetMs; }

  // "14:05" in the site's time zone, with the date ("05.12 14:05") when not today.
  function clockTime(ms) {
    var options = { timeZone: settings.timezone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      var time = new Date(ms).toLocaleTimeString("en-GB", options);
      var day = { timeZone: settings.timezone, day: "2-digit", month: "2-digit" };
      var date = new Date(ms).toLocaleDateString("en-GB", day).replace("/", ".");
      return date === new Date(now()).toLocaleDateString("en-GB", day).replace("/", ".") ? time : date + " " + time;
    } catch (e) {  // a browser without time zones: the device's own clock
      var at = new Date(ms);
      return ("0" + at.getHours()).slice(-2) + ":" + ("0" + at.getMinutes()).slice(-2);
    }
  }

  // The line under the state word: "on since 06:26 · for 4 min", "for 2 h" (off), or
  // "since 14:05 · was in use" (no signal).
  function sinceLine(tile) {
    var parts = [];
    if (tile.state === "no_signal") {
      if (tile.no_signal_since_ms) { parts.push(text("no_signal_since", { at: clockTime(tile.no_signal_since_ms) })); }
      if (tile.was) { parts.push(text("was", { state: words().states[tile.was].toLowerCase() })); }
    } else if (tile.state !== "never_heard") {
      // A member's name only for staff, when the site file shows names (loadNames).
      var who = tile.in_use_by || (token && names[tile.device]) || null;
      if (tile.on_since_ms) { parts.push(text(who ? "in_use_by" : "on_since", { at: clockTime(tile.on_since_ms), who: who })); }
      if (tile.since_ms) { parts.push(text("for", { duration: duration((now() - tile.since_ms) / 1000) })); }
    }
    return parts.join(" \u00b7 ");
  }

  function element(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (content !== undefined) { node.textContent = content; }
    return node;
  }

  function request(method, path, done, body) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, path);
    if (token) { xhr.setRequestHeader("Authorization", "Bearer " + token); }
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      done(xhr.status, body);
    };
    xhr.send(method === "POST" ? JSON.stringify(body || {}) : null);
  }

  // Members' names are for staff only: the stream, open to any screen, carries none; a
  // signed-in page asks /machines with its token for them whenever a tile changes
  // (once for a burst of changes).
  var names = {};
  function loadNames() {
    if (!token || !settings.show_names) { return; }
    window.clearTimeout(loadNames.timer);
    loadNames.timer = window.setTimeout(function () {
      request("GET", "/machines", function (status, body) {
        if (status !== 200 || !body) { return; }
        names = {};
        body.machines.forEach(function (m) { if (m.in_use_by) { names[m.device] = m.in_use_by; } });
        renderAllTiles();
      });
    }, 300);
  }

  function toast(message) {
    var node = document.getElementById("toast");
    node.textContent = message;
    node.className = "toast shown";
    window.clearTimeout(toast.timer);
    toast.timer = window.setTimeout(function () { node.className = "toast"; }, 5000);
  }

  // --- the frame: title, language, staff sign-in -------------------------------------

  function renderFrame() {
    document.documentElement.lang = lang;
    document.title = text("title", { site: settings.site });
    document.getElementById("title").textContent = text("title", { site: settings.site });
    document.getElementById("language-label").textContent = text("language");
    var select = document.getElementById("language");
    select.innerHTML = "";
    ["kk", "ru", "en"].forEach(function (code) {
      var option = element("option", "", settings.texts[code].label);
      option.value = code;
      option.lang = code;
      option.selected = code === lang;
      select.appendChild(option);
    });
    document.getElementById("staff-button").textContent = staffName ? text("sign_out") : text("staff");
    document.getElementById("token-label").textContent = text("token");
    document.getElementById("sign-in").textContent = text("sign_in");
    document.getElementById("staff-hint").textContent = text("sign_in_hint");
    document.getElementById("alerts-heading").textContent = text("alerts");
    document.getElementById("filter-label").textContent = text("show");
    var choices = document.querySelectorAll("#filter button");
    for (var i = 0; i < choices.length; i++) {
      var choice = choices[i].getAttribute("data-filter");
      choices[i].textContent = text("filter_" + choice);
      choices[i].setAttribute("aria-pressed", String(choice === shownFilter));
    }
    renderLink();
  }

  function renderLink() {
    var node = document.getElementById("link");
    var message = linkState === "lost" ? text("reconnecting")
      : linkState === "broker" ? text("broker_down")
      : linkState === "connecting" ? text("connecting") : "";
    node.textContent = message;
    node.className = message ? "link shown" : "link";
  }

  function checkToken(candidate, quiet) {
    token = candidate;
    request("GET", "/staff/me", function (status, body) {
      if (status === 200 && body) {
        staffName = body.name;
        storageSet("makerwatch.token", candidate);
        document.getElementById("staff-form").hidden = true;
        if (!quiet) { toast(text("signed_in", { who: staffName })); }
      } else if (status === 429) {
        // This address tried too many wrong tokens: the token was not even checked, so
        // a stored one is kept for the next visit.
        staffName = null;
        token = null;
        var wait = String((body && body.retry_after_s) || "");
        document.getElementById("staff-message").textContent = text("too_many_tries", { seconds: wait });
      } else {
        staffName = null;
        token = null;
        storageSet("makerwatch.token", null);
        if (!quiet) { document.getElementById("staff-message").textContent = text("bad_token"); }
      }
      renderFrame();
      renderAlerts();
      renderAllTiles();
      renderMachineHistory();  // staff may calibrate
      loadNames();
    });
  }

  // An invite link (makerwatch staff invite) carries a one-time code after "#", which
  // the browser never sends: the page trades it for this phone's own token, then drops it
  // from the address bar so that a bookmark or a shared screen does not hold it.
  function signInWithInvite() {
    var match = /(?:^#|&)invite=([\w-]+)/.exec(window.location.hash);
    if (!match || kiosk) { return false; }
    try { window.history.replaceState(null, "", window.location.pathname + window.location.search); } catch (e) { window.location.hash = ""; }
    request("POST", "/staff/sign-in", function (status, body) {
      if (status === 200 && body && body.token) {
        checkToken(body.token, false);
      } else {
        toast(status === 429 ? text("too_many_tries", { seconds: (body && body.retry_after_s) || "" })
          : status === 503 ? text("invite_later") : text("invite_refused"));
        if (token) { checkToken(token, true); }
      }
    }, { code: match[1] });
    return true;
  }

  document.getElementById("language").onchange = function (event) {
    lang = event.target.value;
    storageSet("makerwatch.lang", lang);
    renderFrame();
    renderAlerts();
    rebuildFloor();
  };

  document.getElementById("staff-button").onclick = function () {
    if (staffName) {
      staffName = null;
      token = null;
      storageSet("makerwatch.token", null);
      renderFrame();
      renderAlerts();
      renderAllTiles();
      return;
    }
    var form = document.getElementById("staff-form");
    form.hidden = !form.hidden;
    if (!form.hidden) { document.getElementById("token").focus(); }
  };

  document.getElementById("staff-form").onsubmit = function (event) {
    event.preventDefault();
    document.getElementById("staff-message").textContent = "";
    checkToken(document.getElementById("token").value.trim(), false);
  };

  // --- alerts ------------------------------------------------------------------------

  function renderAlerts() {
    renderAlertList();
    applyFilter();
    if (kiosk) { fitKiosk(); }  // the alerts' strip may have changed the room left
  }

  function renderAlertList() {
    var list = document.getElementById("alert-list");
    list.innerHTML = "";
    var mine = alerts.filter(function (a) { return !machineId || a.device === machineId; });
    if (!mine.length) {
      list.appendChild(element("li", "none", text("no_alerts")));
      return;
    }
    var sorted = mine.sort(function (a, b) { return b.fired_ms - a.fired_ms; });
    sorted.forEach(function (alert) {
      var item = element("li", alert.severity === "safety" ? "safety" : "");
      item.setAttribute("data-alert", alert.alert_id);
      item.appendChild(element("span", "headline", (alert.headlines && alert.headlines[lang]) || alert.message));
      var began = alert.fired_ms - alert.seconds * 1000;
      item.appendChild(element("span", "held", text("for", { duration: duration((now() - began) / 1000) })));
      if (alert.acked_by) {
        item.appendChild(element("span", "acked", text("acknowledged_by", { who: alert.acked_by })));
        // Acknowledged or snoozed, the reminders wait until then: say so, not just who.
        if (alert.snoozed_until_ms && alert.snoozed_until_ms > now()) {
          item.appendChild(element("span", "snoozed", text("snoozed_until", { at: clockTime(alert.snoozed_until_ms) })));
        }
      } else if (staffName) {
        item.appendChild(alertButton("ack", text("acknowledge"), function () { acknowledge(alert, "ack"); }));
        item.appendChild(alertButton("snooze", text("snooze"), function () { acknowledge(alert, "snooze"); }));
      }
      renderSwitchOff(alert, item);
      list.appendChild(item);
    });
  }

  function tickAlerts() {
    // Only the durations move each second; the list (and its buttons) stays as it is.
    alerts.forEach(function (alert) {
      var item = document.querySelector('[data-alert="' + alert.alert_id + '"] .held');
      if (item) {
        item.textContent = text("for", { duration: duration((now() - (alert.fired_ms - alert.seconds * 1000)) / 1000) });
      }
    });
  }

  function alertButton(className, label, act) {
    var button = element("button", className, label);
    button.type = "button";
    button.onclick = act;
    return button;
  }

  // An alert's remote switch-off as the alert engine holds it: when it will happen (and,
  // for staff, a way to keep the machine on), or what became of it.
  function renderSwitchOff(alert, item) {
    var state = alert.auto_off;
    if (!state) { return; }
    var words = state === "pending" && alert.auto_off_ms ? text("off_pending", { at: clockTime(alert.auto_off_ms) })
      : text("off_" + state);
    item.appendChild(element("span", "auto-off " + state, words));
    if (state === "pending" && staffName) {
      item.appendChild(alertButton("cancel-off", text("cancel_off"), function () { acknowledge(alert, "cancel-switch-off"); }));
    }
  }

  // "ack" (I'm on it), "snooze" (the same, no reminders for an hour) or
  // "cancel-switch-off"; the answer is the alert as it now stands.
  function acknowledge(alert, how) {
    request("POST", "/alerts/" + encodeURIComponent(alert.alert_id) + "/" + how, function (status, body) {
      if (status === 200 && body) {
        alert.acked_by = body.alert.acked_by || alert.acked_by;
        alert.auto_off = body.alert.auto_off;
        renderAlerts();
      } else {
        toast(text("failed", { reason: refusal(status, body, "alert") }));
      }
    });
  }

  // --- tiles -------------------------------------------------------------------------

  function nameOf(tile) { return tile.names[lang] || tile.device; }

  // The groups shown, in order (the site file's `board:` section, else by kind), each
  // with the tiles known so far; hidden machines are in none.
  function shownGroups() {
    return (settings.layout || []).map(function (group) {
      return {
        name: group.names[lang],
        tiles: group.devices.filter(function (d) { return tiles[d]; }).map(function (d) { return tiles[d]; })
      };
    }).filter(function (group) { return group.tiles.length; });
  }

  function shown(device) {
    return (settings.layout || []).some(function (group) { return group.devices.indexOf(device) >= 0; });
  }

  function rebuildFloor() {
    var floor = document.getElementById("floor");
    floor.innerHTML = "";
    elements = {};
    if (kiosk) {
      buildKioskPage(floor);
    } else if (machineId) {
      buildMachinePage(floor);
    } else {
      shownGroups().forEach(function (group, index) {
        var section = element("section", "group");
        var heading = element("h2", "", group.name);
        heading.id = "group-" + index;
        section.setAttribute("aria-labelledby", heading.id);
        section.appendChild(heading);
        var grid = element("div", "tiles");
        group.tiles.forEach(function (tile) { grid.appendChild(buildTile(tile)); });
        section.appendChild(grid);
        floor.appendChild(section);
      });
    }
    renderAllTiles();
    if (kiosk) { fitKiosk(); }
  }

  // --- one machine's page: its live tile and actions, then today and its recent past ---

  function machineHref(device) {
    return "/?machine=" + encodeURIComponent(device) + (query.lang ? "&lang=" + encodeURIComponent(query.lang) : "");
  }

  function buildMachinePage(floor) {
    var back = element("a", "back", text("all_machines"));
    back.href = "/" + (query.lang ? "?lang=" + encodeURIComponent(query.lang) : "");
    floor.appendChild(back);
    if (!tiles[machineId]) {
      floor.appendChild(element("p", "none", text("error_no_machine")));
      return;
    }
    var page = element("div", "machine-page");
    page.appendChild(buildTile(tiles[machineId]));
    page.appendChild(element("div", "", ""));
    page.lastChild.id = "machine-history";
    floor.appendChild(page);
    renderMachineHistory();
  }

  function loadMachine() {
    if (!machineId) { return; }
    request("GET", "/machines/" + encodeURIComponent(machineId), function (status, body) {
      if (status !== 200 || !body) { return; }
      machineData = body;
      renderMachineHistory();
    });
  }

  function renderMachineHistory() {
    var place = document.getElementById("machine-history");
    if (!place) { return; }
    place.innerHTML = "";
    var data = machineData;
    if (!data) { return; }
    if (data.unreadable) { place.appendChild(element("p", "none", text("history_unreadable"))); }
    place.appendChild(historySection("today", [powerChart(data), stateList(data.states)]));
    place.appendChild(historySection("sessions_recent", [sessionTable(data.sessions)]));
    place.appendChild(historySection("alerts_recent", [alertSteps(data.alerts)]));
    // The place for the machine's maintenance (GET /machines/ID/maintenance, served by
    // the maintenance feature once it exists): a section of its own here.
    if (staffName && data.calibrate && data.calibrate.length) {
      place.appendChild(historySection("calibrate", [calibrateForm(data.calibrate)]));
    }
  }

  function historySection(key, children) {
    var section = element("section", "history " + key);
    var heading = element("h2", "", text(key));
    heading.id = "history-" + key;
    section.setAttribute("aria-labelledby", heading.id);
    section.appendChild(heading);
    children.forEach(function (child) { section.appendChild(child); });
    return section;
  }

  // Today's power, a bar for each 5 min's mean, on the whole day from the site's
  // midnight (hours marked under it), so the time of day reads at a glance.
  var DAY_SLOTS = 288;
  var SLOT_MS = 300000;

  function powerChart(data) {
    var box = element("div", "day-chart");
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "day-power");
    svg.setAttribute("viewBox", "0 0 " + DAY_SLOTS + " 30");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    var top = 1;
    data.power.forEach(function (p) { top = Math.max(top, p[1]); });
    svg.setAttribute("aria-label", text("power_today", { peak: number(top, 0) }));
    data.power.forEach(function (p) {
      var bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      var height = Math.max(0.5, p[1] / top * 29);
      bar.setAttribute("x", String(Math.floor((p[0] - data.since_ms) / SLOT_MS)));
      bar.setAttribute("y", (30 - height).toFixed(1));
      bar.setAttribute("width", "1.2");
      bar.setAttribute("height", height.toFixed(1));
      svg.appendChild(bar);
    });
    box.appendChild(svg);
    var hours = element("div", "day-hours");
    hours.setAttribute("aria-hidden", "true");
    ["00", "06", "12", "18", "24"].forEach(function (hour) { hours.appendChild(element("span", "", hour)); });
    box.appendChild(hours);
    return box;
  }

  // "06:26 In use · 08:10 Idle · 12:00 Off": each change of state today, repeats left out.
  function stateList(states) {
    var shownStates = [];
    states.forEach(function (step) {
      var last = shownStates[shownStates.length - 1];
      if (!last || last[1] !== step[1]) { shownStates.push(step); }
    });
    var list = element("ol", "states");
    shownStates.forEach(function (step) {
      var item = element("li", "state-step " + step[1]);
      item.appendChild(element("span", "icon", ICONS[step[1]] || "?"));
      item.lastChild.setAttribute("aria-hidden", "true");
      item.appendChild(document.createTextNode(clockTime(step[0]) + " " + (words().states[step[1]] || step[1])));
      list.appendChild(item);
    });
    if (!shownStates.length) { list.appendChild(element("li", "none", text("nothing_yet"))); }
    return list;
  }

  function sessionTable(sessions) {
    if (!sessions.length) { return element("p", "none", text("nothing_yet")); }
    var table = element("table", "sessions");
    var head = element("tr");
    ["session_start", "session_length", "session_energy"].forEach(function (key) { head.appendChild(element("th", "", text(key))); });
    table.appendChild(head);
    sessions.forEach(function (session) {
      var row = element("tr");
      row.appendChild(element("td", "", clockTime(session.time)));
      row.appendChild(element("td", "", duration(session.duration_s)));
      row.appendChild(element("td", "", text("kwh", { value: number((session.energy_wh || 0) / 1000, 2) })));
      table.appendChild(row);
    });
    return table;
  }

  // Each step of the machine's recent alerts: began, someone on it, back to normal, and
  // what became of a remote switch-off.
  function alertSteps(steps) {
    if (!steps.length) { return element("p", "none", text("nothing_yet")); }
    var list = element("ul", "alert-steps");
    steps.forEach(function (step) {
      var what = words().texts["rule_" + step.rule] ? text("rule_" + step.rule) : step.rule;
      var key = step.status === "acknowledged" ? "acknowledged_by"
        : step.status.indexOf("auto_off_") === 0 ? "off_" + step.status.slice(9) : "step_" + step.status;
      var how = words().texts[key] ? text(key, { who: step.acked_by || "" }) : step.status;
      // Lower-cased inside the line, but never a person's name ("Aigerim is on it").
      var inside = key === "acknowledged_by" ? how : how.charAt(0).toLowerCase() + how.slice(1);
      // " · " between the parts: a colon would meet the step's own ("Перегрев: Занимается: ...").
      list.appendChild(element("li", "", clockTime(step.time) + " · " + what + " · " + inside));
    });
    return list;
  }

  // Staff correct the board's measurement against a known load or a reference
  // thermometer (as `makerwatch board calibrate`); the board measures and answers.
  function calibrateForm(kinds) {
    var form = element("form", "calibrate");
    kinds.forEach(function (what) {
      var row = element("div", "calibrate-" + what);
      var input = element("input");
      input.type = "number";
      input.step = "any";
      input.id = "calibrate-" + what;
      input.required = true;
      var label = element("label", "", text(what === "power" ? "known_load" : "reference_temp"));
      label.htmlFor = input.id;
      var button = element("button", "", text("calibrate_button"));
      button.type = "button";
      button.onclick = function () {
        if (!input.value) { input.focus(); return; }
        var body = what === "power" ? { known_w: Number(input.value) } : { reference_c: Number(input.value) };
        calibrate(tiles[machineId], body);
      };
      [label, input, button].forEach(function (child) { row.appendChild(child); });
      form.appendChild(row);
    });
    form.onsubmit = function (event) { event.preventDefault(); };
    return form;
  }

  function calibrate(tile, body) {
    var name = nameOf(tile);
    answers[tile.device] = { key: "sent_calibrate", name: name, pending: true };
    renderTile(tile);
    request("POST", "/devices/" + encodeURIComponent(tile.device) + "/calibrate", function (status, answer) {
      var key = status === 200 ? "done_calibrate" : status === 202 ? "no_answer" : status === 422 ? "calibrate_refused" : null;
      answers[tile.device] = key ? { key: key, name: name, confirmed: status === 200, at: now(), reason: answer && (answer.words ? answer.words : (answer.detail || answer.error)) } : null;
      renderTile(tile);
      if (!key) { toast(text("failed", { reason: refusal(status, answer, "device") })); }
    }, body);
  }

  // --- the wall: every machine on one screen, pages beyond KIOSK_PAGE_TILES ----------

  // The kiosk's pages: runs of at most KIOSK_PAGE_TILES machines, in the layout's order;
  // a group cut by a page break is named again on the next page.
  function kioskPages() {
    var pages = [[]];
    var count = 0;
    shownGroups().forEach(function (group) {
      var heading = true;
      group.tiles.forEach(function (tile) {
        if (count === KIOSK_PAGE_TILES) { pages.push([]); count = 0; heading = true; }
        var page = pages[pages.length - 1];
        if (heading) { page.push({ heading: group.name }); heading = false; }
        page.push({ tile: tile });
        count += 1;
      });
    });
    return pages;
  }

  function buildKioskPage(floor) {
    var pages = kioskPages();
    kioskPage = kioskPage % pages.length;
    var grid = element("div", "tiles wall");
    var caption = null;
    pages[kioskPage].forEach(function (cell) {
      // A group's name heads its first tile: no row, not even a cell, of its own.
      if (cell.heading !== undefined) { caption = cell.heading; return; }
      var node = buildTile(cell.tile);
      if (caption !== null) {
        node.insertBefore(element("h2", "group-caption", caption), node.firstChild);
        node.className += " first";
        caption = null;
      }
      grid.appendChild(node);
    });
    floor.appendChild(grid);
    var pager = document.getElementById("pager");
    pager.textContent = pages.length > 1 ? (kioskPage + 1) + " / " + pages.length : "";
    kioskPageCount = pages.length;
  }

  function turnKioskPage() {
    if (kioskPageCount < 2) { return; }
    kioskPage = (kioskPage + 1) % kioskPageCount;
    rebuildFloor();
  }

  // The grid and type sized from the screen: the columns that give the largest tiles,
  // the type from the tile (the state word about 40 px on a 1080p screen with a dozen
  // machines), then smaller until every tile holds its text with names whole.
  function fitKiosk() {
    var floor = document.getElementById("floor");
    var grid = floor.firstChild;
    if (!grid || !grid.children.length) { return; }
    var gap = 8;
    var width = floor.clientWidth - 2 * gap;
    var height = floor.clientHeight - gap;
    var cells = grid.children.length;
    var best = null;
    for (var columns = 1; columns <= cells; columns++) {
      var rows = Math.ceil(cells / columns);
      var cellW = (width - (columns - 1) * gap) / columns;
      var cellH = (height - (rows - 1) * gap) / rows;
      var unit = Math.min(cellH / 6.5, cellW / 9);
      if (!best || unit > best.unit) { best = { unit: unit, columns: columns, rows: rows, cellH: cellH }; }
    }
    grid.style.gridTemplateColumns = "repeat(" + best.columns + ", minmax(0, 1fr))";
    grid.style.gridTemplateRows = "repeat(" + best.rows + ", " + Math.floor(best.cellH) + "px)";
    var unit = Math.min(best.unit, KIOSK_MAX_UNIT_PX);
    grid.style.fontSize = unit.toFixed(1) + "px";
    for (var tries = 0; tries < 30 && kioskOverflows(grid); tries++) {
      unit *= 0.94;
      grid.style.fontSize = unit.toFixed(1) + "px";
    }
  }

  function kioskOverflows(grid) {
    for (var i = 0; i < grid.children.length; i++) {
      var cell = grid.children[i];
      if (cell.scrollHeight > cell.clientHeight + 1 || cell.scrollWidth > cell.clientWidth + 1) { return true; }
      var name = cell.querySelector("h3");
      if (name && name.scrollWidth > name.clientWidth + 1) { return true; }
    }
    return false;
  }

  function buildTile(tile) {
    var node = element("article", "tile");
    node.setAttribute("data-device", tile.device);
    var parts = {
      root: node,
      name: element("h3", ""),
      link: element("a", ""),
      state: element("div", "state"),
      icon: element("span", "icon"),
      word: element("span", "word"),
      since: element("div", "since"),
      readings: element("div", "readings"),
      power: element("span", "power"),
      temp: element("span", "temp"),
      spark: document.createElementNS("http://www.w3.org/2000/svg", "svg"),
      health: element("div", "health"),
      actions: element("div", "actions"),
      answer: element("div", "answer")
    };
    parts.answer.setAttribute("role", "status");
    if (kiosk) { parts.link = parts.name; } else { parts.name.appendChild(parts.link); }
    parts.icon.setAttribute("aria-hidden", "true");
    parts.state.appendChild(parts.icon);
    parts.state.appendChild(parts.word);
    parts.readings.appendChild(parts.power);
    parts.readings.appendChild(parts.temp);
    parts.spark.setAttribute("class", "spark");
    parts.spark.setAttribute("viewBox", "0 0 100 30");
    parts.spark.setAttribute("preserveAspectRatio", "none");
    parts.spark.setAttribute("role", "img");
    [parts.name, parts.state, parts.since, parts.readings, parts.spark, parts.health, parts.actions, parts.answer]
      .forEach(function (child) { node.appendChild(child); });
    elements[tile.device] = parts;
    return node;
  }

  function renderAllTiles() {
    Object.keys(tiles).forEach(function (device) { renderTile(tiles[device]); });
    applyFilter();
  }

  // Staff on the floor: all machines, those switched on (or last known on, when the
  // signal is gone), or those with an active alert.
  function passesFilter(tile) {
    if (shownFilter === "on") {
      var state = tile.state === "no_signal" ? tile.was : tile.state;
      return state === "idle" || state === "active";
    }
    if (shownFilter === "alerts") {
      return alerts.some(function (alert) { return alert.device === tile.device; });
    }
    return true;
  }

  function applyFilter() {
    if (kiosk) { return; }
    Object.keys(elements).forEach(function (device) {
      var hide = !passesFilter(tiles[device]);
      if (elements[device].root.hidden !== hide) { elements[device].root.hidden = hide; }
    });
    var sections = document.querySelectorAll("#floor .group");
    for (var i = 0; i < sections.length; i++) {
      sections[i].hidden = !sections[i].querySelector(".tile:not([hidden])");
    }
  }

  (function () {
    var choices = document.querySelectorAll("#filter button");
    for (var i = 0; i < choices.length; i++) {
      choices[i].onclick = function (event) {
        shownFilter = event.target.getAttribute("data-filter");
        renderFrame();
        applyFilter();
      };
    }
  }());

  function renderTile(tile) {
    var parts = elements[tile.device];
    if (!parts) {
      // A machine not on this page (hidden, or on another kiosk page) has no tile.
      if (shown(tile.device) && !kiosk && !machineId) { rebuildFloor(); }
      return;
    }
    var ageS = tile.last_seen_ms ? (now() - tile.last_seen_ms) / 1000 : null;
    var silent = tile.state === "no_signal";  // decided by the server, as on every screen
    parts.root.className = "tile " + tile.state + (parts.root.className.indexOf(" first") >= 0 ? " first" : "");
    if (parts.link.textContent !== nameOf(tile)) { parts.link.textContent = nameOf(tile); }
    if (!kiosk) { parts.link.href = machineHref(tile.device); }
    parts.icon.textContent = ICONS[tile.state] || "?";
    parts.word.textContent = words().states[tile.state];
    parts.since.textContent = sinceLine(tile);
    // Readings from a board that is gone are history: not shown as the present.
    parts.power.textContent = tile.power_w !== null && !silent ? text("watts", { value: number(tile.power_w, 0) }) : "";
    parts.temp.textContent = tile.temp_c !== null && !silent ? text("celsius", { value: number(tile.temp_c, 0) }) : "";
    var health = [];
    if (ageS !== null) { health.push(ageS < 5 ? text("now") : text("seen", { duration: duration(ageS) })); }
    if (tile.rssi_dbm !== null) { health.push(text("signal", { rssi: tile.rssi_dbm })); }
    parts.health.textContent = health.join(" · ");
    parts.health.title = tile.fw ? text("firmware", { fw: tile.fw }) : "";
    parts.spark.setAttribute("aria-label", text("power_hour"));
    drawSpark(parts.spark, history[tile.device] || []);
    renderActions(tile, parts.actions);
    renderAnswer(tile.device, parts.answer);
  }

  function renderActions(tile, container) {
    // A board with no signal cannot hear a command now: nothing is offered for it.
    var wanted = !staffName || kiosk || tile.state === "no_signal" ? "" : canSwitchOff(tile) ? "identify,off" : "identify";
    if (container.getAttribute("data-actions") === wanted + lang) { return; }
    container.setAttribute("data-actions", wanted + lang);
    container.innerHTML = "";
    if (!wanted) { return; }
    var blink = element("button", "identify", text("identify"));
    blink.type = "button";
    blink.onclick = function () { deviceAction(tile, "identify"); };
    container.appendChild(blink);
    if (canSwitchOff(tile)) {
      var off = element("button", "switch-off", text("switch_off"));
      off.type = "button";
      off.onclick = function () {
        if (window.confirm(text("confirm_off", { name: nameOf(tile) }))) {
          deviceAction(tile, "off");
        }
      };
      container.appendChild(off);
    }
  }

  // Offered only where it can work: a relay, a kind Makerwatch switches off (never a
  // printer), and a board that can hear the command now.
  function canSwitchOff(tile) {
    return (settings.switch_off || []).indexOf(tile.device) >= 0 && tile.state !== "no_signal";
  }

  // Sent, then what the board answered: the server waits for the board's own answer
  // (200), or says it did not come (202); nothing is shown as done on our word alone.
  function deviceAction(tile, action) {
    var name = nameOf(tile);
    answers[tile.device] = { key: "sent_" + action, name: name, pending: true };
    renderTile(tiles[tile.device]);
    request("POST", "/devices/" + encodeURIComponent(tile.device) + "/" + action, function (status, body) {
      var key = status === 202 ? "no_answer"
        : status !== 200 ? null
        : action === "off" ? "done_off"
        : body && body.detail && body.detail.indexOf("blinking") !== 0 ? "done_identify_no_led" : "done_identify";
      answers[tile.device] = key ? { key: key, name: name, confirmed: status === 200, at: now() } : null;
      renderTile(tiles[tile.device]);
      toast(key ? text(key, { name: name }) : text("failed", { reason: refusal(status, body, "device") }));
    });
  }

  var ANSWER_SHOWN_MS = 120000;  // a board's answer stays on its tile for 2 min

  function renderAnswer(device, node) {
    var answer = answers[device];
    if (answer && !answer.pending && now() - answer.at > ANSWER_SHOWN_MS) { answer = answers[device] = null; }
    // A calibration's answer comes in every language (answer.words); others as they came.
    var reason = answer && answer.reason && typeof answer.reason === "object" ? answer.reason[lang] : answer && answer.reason;
    var wanted = answer ? text(answer.key, { name: answer.name, reason: reason || "" }) : "";
    if (node.textContent !== wanted) { node.textContent = wanted; }
    node.className = "answer" + (answer ? (answer.pending ? " pending" : answer.confirmed ? " confirmed" : " unconfirmed") : "");
  }

  function drawSpark(svg, points) {
    var end = now();
    var recent = points.filter(function (p) { return p[0] > end - HOUR_MS; });
    var top = 1;
    recent.forEach(function (p) { top = Math.max(top, p[1]); });
    var coordinates = recent.map(function (p) {
      return (100 - (end - p[0]) / HOUR_MS * 100).toFixed(1) + "," + (29 - p[1] / top * 28).toFixed(1);
    }).join(" ");
    var line = svg.firstChild;
    if (!line) {
      line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
      svg.appendChild(line);
    }
    line.setAttribute("points", coordinates);
  }

  function loadHistory() {
    request("GET", "/board-history", function (status, body) {
      if (status !== 200 || !body) { return; }
      Object.keys(body).forEach(function (device) {
        var live = (history[device] || []).filter(function (p) {
          var last = body[device].length ? body[device][body[device].length - 1][0] : 0;
          return p[0] > last;
        });
        history[device] = body[device].concat(live);
        if (tiles[device] && tiles[device].power_w === null && body[device].length) {
          tiles[device].power_w = body[device][body[device].length - 1][1];
        }
      });
      renderAllTiles();
    });
  }

  // --- the live stream -----------------------------------------------------------------

  function connect() {
    var source = new EventSource("/board-events");
    source.addEventListener("snapshot", function (event) {
      var data = JSON.parse(event.data);
      offsetMs = data.now_ms - Date.now();
      tiles = {};
      data.tiles.forEach(function (tile) { tiles[tile.device] = tile; });
      alerts = data.alerts;
      linkState = data.mqtt_connected ? "" : "broker";
      renderLink();
      rebuildFloor();
      renderAlerts();
      loadHistory();
      loadNames();
    });
    source.addEventListener("tile", function (event) {
      var tile = JSON.parse(event.data);
      offsetMs = tile.now_ms - Date.now();
      tiles[tile.device] = tile;
      if (tile.power_w !== null) {
        (history[tile.device] = history[tile.device] || []).push([tile.last_seen_ms, tile.power_w]);
      }
      renderTile(tile);
      loadNames();
    });
    source.addEventListener("alerts", function (event) {
      // Only what changed: alerts new or changed (by alert_id), and the ids of those ended.
      var change = JSON.parse(event.data);
      var replaced = change.changed.map(function (a) { return a.alert_id; }).concat(change.ended);
      alerts = alerts.filter(function (a) { return replaced.indexOf(a.alert_id) < 0; }).concat(change.changed);
      renderAlerts();
    });
    source.addEventListener("link", function (event) {
      linkState = JSON.parse(event.data).mqtt_connected ? "" : "broker";
      renderLink();
    });
    source.onerror = function () {
      // The browser reconnects by itself (the server asked for 2 s); say so meanwhile.
      linkState = "lost";
      renderLink();
      if (source.readyState === EventSource.CLOSED) {
        // Refused (the server holds its most streams): the browser gives up, we do not.
        setTimeout(connect, STREAM_REFUSED_RETRY_MS + Math.random() * STREAM_REFUSED_RETRY_MS);
      }
    };
  }

  if (kiosk) { document.body.className = "kiosk"; }
  if (machineId) {
    document.getElementById("filter").hidden = true;
    loadMachine();
    window.setInterval(loadMachine, 60000);
  }
  // Nobody can sign in on a site without staff: no button that cannot succeed.
  if (!settings.has_staff) { document.getElementById("staff-button").hidden = true; }
  renderFrame();
  renderAlerts();
  if (!(settings.has_staff && signInWithInvite()) && token) { checkToken(token, true); }
  connect();
  function tick() {
    // The same 24-hour "14:05" as every time on the tiles, in every language (an English
    // browser would otherwise say "2:05 PM" above tiles saying "on since 14:05").
    document.getElementById("clock").textContent = clockTime(now());
    renderAllTiles();
    tickAlerts();
    if (kiosk) {
      var grid = document.getElementById("floor").firstChild;
      if (grid && kioskOverflows(grid)) { fitKiosk(); }  // a line grew ("for 59 min" to "for 1 h 2 min")
    }
  }
  tick();
  window.setInterval(tick, 1000);
  if (kiosk) {
    window.setInterval(turnKioskPage, KIOSK_PAGE_S * 1000);
    window.addEventListener("resize", fitKiosk);
  }
  window.setInterval(loadHistory, 5 * 60000);
}());
