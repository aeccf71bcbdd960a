// Spacepods UI live updates. Every page is rendered on the server and reads
// fine without this script; the script only keeps open pages current:
//  - pages with data-live on <body> open an EventSource. "line" events are
//    appended to #events; a "state" event whose hash differs from the one the
//    page was rendered from makes the script fetch the page again and swap
//    every element marked data-live-region (the server stays the one source
//    of truth); "done" ends the stream.
//  - a <pre id="log" data-stream=...> follows an app's logs.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  var indicator = document.getElementById('live-indicator');
  function setLive(on) {
    if (!indicator) return;
    indicator.hidden = false;
    indicator.textContent = on ? 'live' : 'reconnecting…';
    indicator.classList.toggle('off', !on);
  }

  var body = document.body;
  var src = body.getAttribute('data-live');
  if (src && window.EventSource) {
    var state = body.getAttribute('data-state') || '';
    var es = new EventSource(src);
    var fetching = false, again = false;

    es.onopen = function () { setLive(true); };
    es.onerror = function () { if (es.readyState !== EventSource.CLOSED) setLive(false); };
    es.addEventListener('line', function (e) { appendLine(JSON.parse(e.data)); });
    es.addEventListener('state', function (e) {
      var s = JSON.parse(e.data);
      if (s.gone) { gone(s); return; }
      if (s.hash !== state) { state = s.hash; refresh(); }
    });
    es.addEventListener('done', function () {
      es.close();
      if (indicator) { indicator.textContent = 'finished'; indicator.classList.remove('off'); }
    });

    var refresh = function () {
      if (fetching) { again = true; return; }
      fetching = true;
      fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, 'text/html');
          document.querySelectorAll('[data-live-region]').forEach(function (el) {
            var fresh = doc.getElementById(el.id);
            if (fresh) el.replaceWith(document.importNode(fresh, true));
          });
        })
        .catch(function () {})
        .then(function () {
          fetching = false;
          if (again) { again = false; refresh(); }
        });
    };

    var gone = function (s) {
      es.close();
      var st = document.getElementById('status');
      if (st) {
        st.setAttribute('data-status', s.status);
        st.innerHTML = '';
        var b = document.createElement('span');
        b.className = 'badge s-' + s.status;
        b.textContent = s.status;
        st.appendChild(b);
      }
      ['actions', 'apps'].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) el.hidden = true;
      });
      var g = document.getElementById('gone');
      if (g) g.hidden = false;
      if (indicator) indicator.textContent = 'finished';
    };
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function appendLine(ev) {
    var list = document.getElementById('events');
    if (!list) return;
    var none = document.getElementById('no-events');
    if (none) none.remove();
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    var li = document.createElement('li');
    li.className = 'ev new lv-' + (ev.level || 'info');
    var t = document.createElement('time');
    var d = new Date(ev.at);
    t.dateTime = ev.at;
    t.textContent = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
    li.appendChild(t);
    if (ev.app && list.hasAttribute('data-show-app')) {
      li.appendChild(document.createTextNode(' '));
      var a = document.createElement('span');
      a.className = 'ev-app';
      a.textContent = ev.app;
      li.appendChild(a);
    }
    li.appendChild(document.createTextNode(' '));
    var m = document.createElement('span');
    m.className = 'msg';
    m.textContent = ev.output ? ev.message + ": " + ev.output : ev.message;
    li.appendChild(m);
    list.appendChild(li);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  var log = document.getElementById('log');
  if (log && log.getAttribute('data-stream') && window.EventSource) {
    var logState = document.getElementById('log-state');
    var les = new EventSource(log.getAttribute('data-stream'));
    var first = true;
    les.onopen = function () { if (logState) logState.textContent = '● following'; };
    les.addEventListener('log', function (e) {
      var stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      if (first) { log.textContent = ''; first = false; }
      log.appendChild(document.createTextNode(e.data + '\n'));
      if (stick) log.scrollTop = log.scrollHeight;
    });
    les.addEventListener('end', function (e) {
      les.close();
      if (logState) logState.textContent = e.data;
    });
    les.onerror = function () {
      if (les.readyState === EventSource.CLOSED) return;
      // The stream restarts with the last 200 lines: start over, not twice.
      first = true;
      if (logState) logState.textContent = 'reconnecting…';
    };
    log.scrollTop = log.scrollHeight;
  }
})();
