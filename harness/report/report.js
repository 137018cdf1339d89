// mire-eval report: sortable tables and the per-query drill-down; no framework, no network.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);

  function num(text) {
    var t = text.trim();
    if (t === "-" || t === "") return null;
    var v = parseFloat(t.replace(/^\+/, ""));
    return isNaN(v) || !/^[-+]?[0-9.]+(e[-+]?[0-9]+)?$/i.test(t.replace(/^[<>]/, "")) ? NaN : v;
  }

  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = !th.classList.contains("asc");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.classList.remove("asc", "desc"); });
    th.classList.add(asc ? "asc" : "desc");
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = num(x), ny = num(y);
      var r;
      if (nx === null || ny === null) r = (nx === null) - (ny === null);  // "-" sorts last
      else if (!isNaN(nx) && !isNaN(ny)) r = nx - ny;
      else r = x.localeCompare(y);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.title = "click to sort";
      th.addEventListener("click", function () { sortBy(table, i, th); });
    });
  });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function highlighted(text, spans) {  // text nodes and <mark>s: never innerHTML
    var span = el("span"), at = 0;
    (spans || []).forEach(function (s) {
      span.appendChild(document.createTextNode(text.slice(at, s[0])));
      span.appendChild(el("mark", null, text.slice(s[0], s[1])));
      at = s[1];
    });
    span.appendChild(document.createTextNode(text.slice(at)));
    return span;
  }

  function rankText(r) { return r === null || r === undefined ? "none retrieved" : String(r); }

  function renderQuery(task, q, detail) {
    detail.innerHTML = "";
    var head = el("div", "qhead");
    if (q.thumb) { var img = el("img"); img.src = q.thumb; img.alt = "query image " + q.id; head.appendChild(img); }
    else head.appendChild(el("div", "none", "(no image)"));
    var info = el("div");
    info.appendChild(el("h4", null, "query " + q.id + (q.type ? " (" + q.type + ")" : "")));
    info.appendChild(el("p", "question", q.text || "(question not available)"));
    if (q.answers && q.answers.length) info.appendChild(el("p", "answers", "answers: " + q.answers.join(" | ")));
    head.appendChild(info);
    detail.appendChild(head);
    q.systems.forEach(function (s) {
      var box = el("div", "system");
      var h = el("h5", null, s.name);
      var k = DATA.tasks[task].cutoff;
      var hit = s.first_rank !== null && s.first_rank <= k;
      h.appendChild(el("span", "badge " + (hit ? "hit" : "miss"), "first relevant rank: " + rankText(s.first_rank)));
      box.appendChild(h);
      if (s.views) {
        var parts = [];
        ["full", "text", "image", "swap"].forEach(function (v) { if (v in s.views) parts.push(v + " " + rankText(s.views[v])); });
        box.appendChild(el("p", "note", "gold passage's rank per probe view: " + parts.join(", ")));
      }
      var ol = el("ol");
      s.top.forEach(function (p) {
        var li = el("li", p.relevant ? "rel" : "");
        li.appendChild(el("span", "pid", p.id + (p.relevant ? " \u2713 relevant" : "") + (p.title ? " \u2014 " + p.title : "")));
        li.appendChild(el("br"));
        li.appendChild(highlighted(p.text, p.spans));
        ol.appendChild(li);
      });
      if (!s.top.length) box.appendChild(el("p", "none", "empty ranking"));
      box.appendChild(ol);
      detail.appendChild(box);
    });
  }

  var views = {};
  Object.keys(DATA.tasks).forEach(function (task) {
    var root = document.getElementById("drill-" + DATA.tasks[task].slug);
    if (!root) return;
    var input = root.querySelector("input"), list = root.querySelector("ul"), detail = root.querySelector(".detail");
    var queries = DATA.tasks[task].queries;
    function show(q) {
      renderQuery(task, q, detail);
      Array.prototype.forEach.call(list.children, function (li) { li.classList.toggle("active", li.dataset.qid === q.id); });
    }
    function filter() {
      var needle = input.value.trim().toLowerCase();
      list.innerHTML = "";
      var shown = 0;
      queries.forEach(function (q) {
        if (shown >= 200) return;
        if (needle && q.id.toLowerCase().indexOf(needle) < 0 && (q.text || "").toLowerCase().indexOf(needle) < 0) return;
        var li = el("li", null, q.id + "  " + (q.text || ""));
        li.dataset.qid = q.id;
        li.addEventListener("click", function () { history.replaceState(null, "", "#q=" + task + "/" + q.id); show(q); });
        list.appendChild(li);
        shown += 1;
      });
    }
    input.addEventListener("input", filter);
    filter();
    views[task] = { show: show, queries: queries, root: root };
  });

  function fromHash() {
    var h = decodeURIComponent(location.hash || "");
    if (h.indexOf("#q=") !== 0) { document.body.classList.remove("focus"); return; }
    var rest = h.slice(3), cut = rest.lastIndexOf("/");
    var task = rest.slice(0, cut), qid = rest.slice(cut + 1);
    var view = views[task];
    if (!view) return;
    var q = view.queries.filter(function (x) { return x.id === qid; })[0];
    if (!q) return;
    // a drill-down page: this task's drill-down alone, until "whole report" is clicked
    Array.prototype.forEach.call(document.querySelectorAll("section.task"), function (s) {
      s.classList.toggle("focused", s.contains(view.root));
    });
    document.body.classList.add("focus");
    view.show(q);
    window.scrollTo(0, 0);
  }
  document.getElementById("whole").addEventListener("click", function (e) {
    e.preventDefault();
    document.body.classList.remove("focus");
    history.replaceState(null, "", location.pathname);
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
