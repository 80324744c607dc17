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

  function call(method, body, done) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, "/members/enrol");
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
    var message = document.createElement("span");
    message.setAttribute("role", "status");
    root.appendChild(heading);
    root.appendChild(labelled("enrol-device", text("enrol_machine"), machines));
    root.appendChild(labelled("enrol-member", text("enrol_member"), members));
    root.appendChild(button);
    root.appendChild(message);
    root.hidden = false;
    button.addEventListener("click", function () {
      var device = document.getElementById("enrol-device");
      var member = Number(document.getElementById("enrol-member").value);
      call("POST", { device: device.value, member: member }, function (code, answer) {
        if (code === 200) {
          var at = siteTime(answer.until_ms);
          message.textContent = text("enrol_waiting", { machine: device.options[device.selectedIndex].textContent, at: at });
        } else {
          message.textContent = text("enrol_failed", { reason: failure(code) });
        }
      });
    });
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
