// "Phát trực tiếp": the microphone to the loudspeakers. Opens the broadcast through the API (the
// session's CSRF token in X-CSRF-Token), sends MediaRecorder's webm/opus chunks (every 250 ms) to
// the ingest WebSocket the API answered with, shows the microphone's level in the <meter>, and
// stops it through the API; if the socket drops, it connects again by itself (see connect()). A
// broadcast of this officer's still going when the page loads (data-resume: the page was reloaded,
// or opened on another device) is taken back at once: a new ingest key from
// POST /api/v1/live/{id}/resume, a new MediaRecorder (see resume()).
// Texts come from the panel's data-msg-* attributes, in Vietnamese.
(function () {
  "use strict";
  var panel = document.getElementById("live-panel");
  if (!panel) { return; }
  var form = document.getElementById("live-form");
  var startButton = document.getElementById("live-start");
  var stopButton = document.getElementById("live-stop");
  var resumeButton = document.getElementById("live-resume");
  var statusLine = document.getElementById("live-status");
  var meter = document.getElementById("live-level");
  var csrf = panel.getAttribute("data-csrf");
  var current = null;  // {id, url, stream, recorder, socket, backlog, audio, stopping, lostAt, resumed}
  var pending = null;  // the id of a broadcast still going that this page has not taken back yet
  var MICROPHONE = {audio: {echoCancellation: true, noiseSuppression: true, autoGainControl: true}};

  function msg(key) { return panel.getAttribute("data-msg-" + key) || key; }
  function say(text, state) {
    statusLine.textContent = text;
    panel.setAttribute("data-state", state || "");
  }

  function api(method, path, body) {
    var options = {method: method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options);
  }

  function showLevel(stream) {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return null; }
    var audio = new Context();
    var analyser = audio.createAnalyser();
    analyser.fftSize = 1024;
    audio.createMediaStreamSource(stream).connect(analyser);
    var samples = new Float32Array(analyser.fftSize);
    function draw() {
      if (audio.state === "closed") { return; }
      analyser.getFloatTimeDomainData(samples);
      var sum = 0;
      for (var i = 0; i < samples.length; i++) { sum += samples[i] * samples[i]; }
      meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 3);
      window.requestAnimationFrame(draw);
    }
    draw();
    return audio;
  }

  function release() {
    if (!current) { return; }
    if (current.recorder && current.recorder.state !== "inactive") { current.recorder.stop(); }
    if (current.stream) { current.stream.getTracks().forEach(function (t) { t.stop(); }); }
    if (current.audio) { current.audio.close(); }
    meter.value = 0;
    current = null;
    startButton.disabled = false;
    startButton.hidden = false;
    stopButton.hidden = true;
    resumeButton.hidden = true;
  }

  function answerOf(response) {
    return response.json().then(function (body) { return {ok: response.ok, body: body}; });
  }

  function watchOnAir(id) {
    // On air once the hub says its audio reached the streaming server.
    api("GET", "/api/v1/live/" + id).then(function (r) { return r.json(); }).then(function (b) {
      if (!current || current.id !== id) { return; }
      if (b.status === "on_air") { say(msg("on-air"), "on-air"); return; }
      if (b.status === "ended") { return; }
      window.setTimeout(function () { watchOnAir(id); }, 700);
    }).catch(function () { window.setTimeout(function () { watchOnAir(id); }, 1500); });
  }

  function start() {
    var targets = Array.prototype.map.call(form.querySelectorAll("input[name=targets]:checked"),
                                           function (i) { return i.value; });
    if (targets.indexOf("*") >= 0) { targets = ["*"]; }
    var title = form.elements.title.value.trim();
    var choice = form.querySelector("input[name=priority]:checked");
    if (!targets.length) { say(msg("need-targets"), "error"); return; }
    if (!title) { say(msg("need-title"), "error"); form.elements.title.focus(); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder ||
        !window.WebSocket) { say(msg("unsupported"), "error"); return; }
    startButton.disabled = true;
    say(msg("asking"), "asking");
    navigator.mediaDevices.getUserMedia(MICROPHONE).then(function (stream) {
      current = {stream: stream, audio: showLevel(stream)};
      return api("POST", "/api/v1/live", {title: title, targets: targets,
                                          priority: choice ? choice.value : "priority"})
        .then(answerOf)
        .then(function (answer) {
          if (!answer.ok) {
            say(msg("refused") + " " + (answer.body.detail || ""), "error");
            release();
            return;
          }
          open(answer.body);
        });
    }, function () {
      say(msg("no-mic"), "error");
      startButton.disabled = false;
    }).catch(function () {
      say(msg("refused"), "error");
      release();
    });
  }

  // Taking back a broadcast still going: the microphone, then a new ingest key (the old one is
  // refused from then on and a page still using it is closed with 4001), then a new MediaRecorder,
  // whose webm stream the hub's ingest starts a new encoder part for, on the same Icecast mount.
  // Within HUB_LIVE_IDLE_S of the old page going, the loudspeakers never stop listening.
  function resume(id) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder ||
        !window.WebSocket) { say(msg("unsupported"), "error"); return; }
    resumeButton.disabled = true;
    say(msg("resuming"), "connecting");
    navigator.mediaDevices.getUserMedia(MICROPHONE).then(function (stream) {
      current = {stream: stream, audio: showLevel(stream), resumed: true};
      return api("POST", "/api/v1/live/" + id + "/resume").then(answerOf).then(function (answer) {
        pending = null;
        if (!answer.ok) {
          say(msg("refused") + " " + (answer.body.detail || ""), "error");
          release();
          return;
        }
        resumeButton.hidden = true;
        open(answer.body);
      });
    }, function () {
      // The microphone needs the officer's say-so first (a permission prompt, a click).
      resumeButton.disabled = false;
      resumeButton.hidden = false;
      say(msg("resume-needed"), "reconnecting");
    }).catch(function () {
      say(msg("refused"), "error");
      release();
    });
  }

  // The ingest connection. One MediaRecorder for the whole broadcast: if the socket drops, the
  // recorder goes on and its chunks wait in current.backlog; the page connects again (backoff
  // 0.25 s doubling to 2 s) and sends them, so the hub's encoder gets the rest of the same webm
  // stream. It gives up when the hub says the broadcast has ended (the hub ends it when the
  // browser is gone longer than HUB_LIVE_IDLE_S) or after RETRY_FOR_MS.
  var RETRY_FOR_MS = 30000, BACKLOG_MAX = 4 << 20;

  function open(broadcast) {
    current.id = broadcast.id;
    current.url = broadcast.ingest_url;
    current.backlog = [];
    current.backlogBytes = 0;
    panel.setAttribute("data-broadcast", broadcast.id);
    say(msg("connecting"), "connecting");
    connect(current, 0);
  }

  function send(run, chunk) {
    if (run.socket && run.socket.readyState === WebSocket.OPEN && !run.backlog.length) {
      run.socket.send(chunk);
    } else if (run.backlogBytes + chunk.size <= BACKLOG_MAX) {
      run.backlog.push(chunk);
      run.backlogBytes += chunk.size;
    }
  }

  function connect(run, attempt) {
    var socket = new WebSocket(run.url);
    run.socket = socket;
    socket.onopen = function () {
      if (current !== run) { socket.close(); return; }
      run.lostAt = null;
      run.reconnects = (run.reconnects || 0) + (attempt ? 1 : 0);
      panel.setAttribute("data-reconnects", String(run.reconnects));
      while (run.backlog.length) { socket.send(run.backlog.shift()); }
      run.backlogBytes = 0;
      if (!run.recorder) {
        var type = "audio/webm;codecs=opus";
        var options = MediaRecorder.isTypeSupported(type) ? {mimeType: type, audioBitsPerSecond: 48000} : {};
        var recorder = new MediaRecorder(run.stream, options);
        run.recorder = recorder;
        recorder.ondataavailable = function (event) {
          if (event.data && event.data.size) { send(run, event.data); }
        };
        recorder.start(250);
        startButton.hidden = true;
        stopButton.hidden = false;
        stopButton.focus();
        watchOnAir(run.id);
      } else if (attempt) {
        watchOnAir(run.id);
      }
    };
    socket.onclose = function (event) {
      if (current !== run || run.socket !== socket) { return; }
      if (event.code === 4001) {
        // Taken back by another page of the officer's (resume): the broadcast goes on there.
        release();
        say(msg("superseded"), "ended");
        return;
      }
      // A resumed broadcast's first connection may be refused while the hub still sees the old
      // page's: tried again like a dropped one.
      if (run.stopping || event.code === 1000 || event.code === 1003 || (!run.recorder && !run.resumed)) {
        // Ended by the hub (stopped elsewhere, its limit, not audio), or never got going: then it
        // is stopped here too, so that it does not keep its communes from the next try.
        if (!run.recorder && !run.stopping) { api("POST", "/api/v1/live/" + run.id + "/stop"); }
        release();
        say(run.stopping ? msg("ended") : msg("lost"), run.stopping ? "ended" : "error");
        return;
      }
      run.lostAt = run.lostAt || Date.now();
      say(msg("reconnecting"), "reconnecting");
      retry(run, attempt + 1);
    };
  }

  function retry(run, attempt) {
    // Still going, says the hub? (A refused reconnection looks like a dropped one to the page.)
    api("GET", "/api/v1/live/" + run.id).then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; }).then(function (b) {
        if (current !== run) { return; }
        if ((b && b.status === "ended") || Date.now() - run.lostAt > RETRY_FOR_MS) {
          release();
          say(msg("lost"), "error");
          return;
        }
        window.setTimeout(function () { if (current === run) { connect(run, attempt); } },
                          Math.min(2000, 250 * Math.pow(2, attempt - 1)));
      });
  }

  function stop() {
    if (pending && !current) {
      // Stopped without taking it back.
      var gone = pending;
      pending = null;
      stopButton.disabled = true;
      api("POST", "/api/v1/live/" + gone + "/stop").then(function () {
        stopButton.disabled = false;
        release();
        say(msg("ended"), "ended");
      }, function () { stopButton.disabled = false; });
      return;
    }
    if (!current || !current.id) { return; }
    current.stopping = true;
    stopButton.disabled = true;
    say(msg("stopping"), "stopping");
    var id = current.id;
    api("POST", "/api/v1/live/" + id + "/stop").then(function () {
      stopButton.disabled = false;
      if (current && current.id === id) {
        if (current.socket) { current.socket.close(); }
        release();
        say(msg("ended"), "ended");
      }
    }, function () { stopButton.disabled = false; });
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  resumeButton.addEventListener("click", function () { if (pending) { resume(pending); } });
  // The level meter's AudioContext, made without a click, may start suspended: the first click wakes it.
  document.addEventListener("click", function () {
    if (current && current.audio && current.audio.state === "suspended") { current.audio.resume(); }
  });
  pending = panel.getAttribute("data-resume");
  if (pending) {
    startButton.hidden = true;
    stopButton.hidden = false;
    panel.setAttribute("data-broadcast", pending);
    resume(pending);
  }
})();
