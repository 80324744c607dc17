/* A machine's maintenance tasks with a "Done" button each, for the machine page and the
   staff phone page: MakerwatchMaintenance.show(element, deviceId, language). It reads
   GET /machines/{id}/maintenance (the words come with it, in kk, ru and en) and records
   a task done with POST .../{task}/done and the staff token the board keeps
   (localStorage "makerwatch.token"); without a token it shows no button. */
(function () {
  "use strict";

  function token() {
    try { return window.localStorage.getItem("makerwatch.token"); } catch (e) { return null; }
  }

  function fill(template, fields) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return String(fields[key]); });
  }

  function when(ms, language) {
    return new Date(ms).toLocaleString(language, { dateStyle: "short", timeStyle: "short" });
  }

  function item(device, task, words, language, refresh, status) {
    var li = document.createElement("li");
    li.className = task.due ? "maintenance-due" : "maintenance-ok";
    li.dataset.task = task.task;
    var name = document.createElement("b");
    name.textContent = task.names[language];
    var used = document.createElement("span");
    used.textContent = fill(words[task.interval], { used: task.used, every: task.every }) +
      (task.due ? " · " + words.due : "");
    var last = document.createElement("span");
    last.textContent = task.last_done_ms === null ? words.never_done :
      fill(words.last_done, { when: when(task.last_done_ms, language), who: task.last_done_by });
    li.append(name, " ", used, " ", last);
    var staff = token();
    if (staff) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = words.done;
      button.addEventListener("click", function () {
        button.disabled = true;
        var url = "/machines/" + encodeURIComponent(device) + "/maintenance/" +
          encodeURIComponent(task.task) + "/done";
        fetch(url, { method: "POST", headers: { Authorization: "Bearer " + staff } })
          .then(function (response) {
            status.textContent = response.ok ? words.recorded : words.not_recorded;
            refresh();
          });
      });
      li.append(" ", button);
    }
    return li;
  }

  function show(element, device, language) {
    var list = document.createElement("ul");
    var status = document.createElement("p");
    status.setAttribute("role", "status");
    element.replaceChildren(list, status);
    function refresh() {
      fetch("/machines/" + encodeURIComponent(device) + "/maintenance")
        .then(function (response) { return response.json(); })
        .then(function (body) {
          var words = body.words[language];
          list.replaceChildren.apply(list, body.tasks.map(function (task) {
            return item(device, task, words, language, refresh, status);
          }));
        });
    }
    refresh();
  }

  window.MakerwatchMaintenance = { show: show };
}());
