/* Enrolling a card from the staff page (docs/members.md, "Enrolling"): the next unknown
   card tapped at the chosen machine becomes the chosen member's. Shown only to staff
   signed in (the board's own token), and only when a machine of the site reads cards.
   A module of its own beside board.js: it reads the page's settings and texts. */
(function () {
  "use strict";
  var settings = JSON.parse(document.getElementById("settings").textContent);
  var root = document.getElementById("enrol");
  var token = null;
  try { token = window.localStorage.getItem("makerwatch.token"); } catch (e) { /* a private window: no enrolment */ }
  if (!root || !token || /(^|[?&])kiosk=1/.test(window.location.search)) { return; }
  var choices = null;
  var POLL_MS = 2000;  // how often a waiting enrolment is asked after: "within seconds"
  var watching = null;  // the timer of the enrolment being watched
  var message = null;  // the status line, made again when the language changes
  var said = null;  // what it says: [text key, fields], said again in a new language

  // `fields` may be a function: made again in the new language (a machine's name).
  function say(key, fields) {
    said = [key, fields];
    message.textContent = text(key, typeof fields === "function" ? fields() : fields);
  }

  function machineName(id) {
    var device = choices.devices.filter(function (d) { return d.id === id; })[0];
    return (device && device.names[language()]) || id;
  }

  // The page's language as the board chose it (its language menu), else the settings'.
  function language() {
    var chosen = document.getElementById("language");
    return chosen && settings.texts[chosen.value] ? chosen.value : settings.language;
  }

  function text(key, fields) {
    return settings.texts[language()].texts[key].replace(/\{(\w+)\}/g, function (_, name) { return fields && fields[name] !== undefined ? fields[name] : ""; });
  }

  // "14:05" on the site's clock, as the board's own clock and tiles show it (a phone
  // abroad or set to another zone would otherwise give its own hour).
  function siteTime(ms) {
    var options = { timeZone: settings.timezone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      return new Date(ms).toLocaleTimeString("en-GB", options);
    } catch (e) {  // a browser without time zones: the device's own clock
      var at = new Date(ms);
      return ("0" + at.getHours()).slice(-2) + ":" + ("0" + at.getMinutes()).slice(-2);
    }
  }

  // Why the server refused, in the page's language (its own answer is in English).
  function failure(code) {
    if (code === 401) { return text("error_bad_token"); }
    if (code === 404) { return text("enrol_gone"); }
    return text("error_server", { status: code });
  }

  function call(method, body, done, path) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, path || "/members/enrol");
    xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
      done(xhr.status, answer);
    };
    xhr.send(body ? JSON.stringify(body) : null);
  }

  function labelled(id, label, options) {
    var wrap = document.createElement("span");
    var name = document.createElement("label");
    name.htmlFor = id;
    name.textContent = label;
    var select = document.createElement("select");
    select.id = id;
    options.forEach(function (option) {
      var node = document.createElement("option");
      node.value = option[0];
      node.textContent = option[1];
      select.appendChild(node);
    });
    wrap.appendChild(name);
    wrap.appendChild(select);
    return wrap;
  }

  function render() {
    var lang = language();
    root.textContent = "";
    var heading = document.createElement("h2");
    heading.textContent = text("enrol");
    var machines = choices.devices.map(function (d) { return [d.id, d.names[lang] || d.id]; });
    var members = choices.members.map(function (m) { return [String(m.id), m.id + " · " + m.short]; });
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = text("enrol_go");
    message = document.createElement("span");
    message.setAttribute("role", "status");
    if (said) { say(said[0], said[1]); }
    root.appendChild(heading);
    root.appendChild(labelled("enrol-device", text("enrol_machine"), machines));
    root.appendChild(labelled("enrol-member", text("enrol_member"), members));
    root.appendChild(button);
    root.appendChild(message);
    root.hidden = false;
    button.addEventListener("click", function () {
      var device = document.getElementById("enrol-device");
      var member = document.getElementById("enrol-member");
      var asked = {
        device: device.value, member: Number(member.value),
        short: choices.members.filter(function (m) { return m.id === Number(member.value); })[0].short
      };
      var fields = function () { return { machine: machineName(asked.device), at: asked.at, member: asked.short }; };
      window.clearTimeout(watching);
      call("POST", { device: asked.device, member: asked.member }, function (code, answer) {
        if (code === 200) {
          asked.at = siteTime(answer.until_ms);
          say("enrol_waiting", fields);
          watch(asked, fields);
        } else {
          say("enrol_failed", { reason: failure(code) });
        }
      });
    });
  }

  // Ask after the enrolment until the card is attached or the time runs out; the
  // answer is said in the page's language at the moment it comes.
  function watch(asked, fields) {
    watching = window.setTimeout(function () {
      call("GET", null, function (code, answer) {
        if (code !== 200 || !answer) {
          say("enrol_failed", { reason: failure(code) });
        } else if (answer.state === "enrolled") {
          say("enrol_done", fields);
        } else if (answer.state === "expired") {
          say("enrol_expired", fields);
        } else {
          watch(asked, fields);
        }
      }, "/members/enrol/" + encodeURIComponent(asked.device) + "/" + asked.member);
    }, POLL_MS);
  }

  call("GET", null, function (status, answer) {
    if (status !== 200 || !answer || !answer.devices.length || !answer.members.length) { return; }
    choices = answer;
    render();
    var menu = document.getElementById("language");
    // After board.js has switched its own texts.
    if (menu) { menu.addEventListener("change", function () { window.setTimeout(render, 0); }); }
  });
}());
