// The recorder: record from the microphone (MediaRecorder), listen back, and send the take, or a
// file made elsewhere, to the section's data-upload-url as multipart "file" (plus the section's
// input[data-upload-field] values), with the session's CSRF token in X-CSRF-Token. On a bulletin's
// page that is POST /api/v1/bulletins/{id}/recording and the page reloads; on the playlist form it
// is POST /api/v1/media (data-after="event") and a "recorder:done" event carries the hub's answer
// to the page's own script. The hub takes MP3, WAV, M4A or OGG and Chromium records WebM, so a take
// is decoded here and sent as a 16-bit mono WAV. XMLHttpRequest, not fetch, so that the upload's
// progress shows in the section's <progress>. Texts come from the page (data-msg-*), in Vietnamese.
(function () {
  "use strict";
  var box = document.querySelector("section.recorder");
  if (!box) { return; }
  var controls = box.querySelector(".recorder-controls");
  var start = box.querySelector(".record-start");
  var stop = box.querySelector(".record-stop");
  var send = box.querySelector(".record-send");
  var playback = box.querySelector(".record-playback");
  var status = box.querySelector(".record-status");
  var progress = box.querySelector(".record-progress");
  function say(key, detail) {
    var text = box.getAttribute("data-msg-" + key) || key;
    status.textContent = text.replace("{detail}", detail || "");
  }
  function attach(form) {
    Array.prototype.forEach.call(box.querySelectorAll("input[data-upload-field]"), function (field) {
      if (field.value) { form.append(field.getAttribute("data-upload-field"), field.value); }
    });
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", box.getAttribute("data-upload-url"));
      xhr.setRequestHeader("X-CSRF-Token", box.getAttribute("data-csrf"));
      xhr.responseType = "json";
      if (progress) {
        progress.value = 0;
        progress.hidden = false;
        xhr.upload.addEventListener("progress", function (e) {
          if (e.lengthComputable) { progress.value = Math.round(100 * e.loaded / e.total); }
        });
      }
      xhr.addEventListener("load", function () {
        var answer = xhr.response;
        if (xhr.status >= 200 && xhr.status < 300) {
          if (progress) { progress.value = 100; }
          say("done");
          if (box.getAttribute("data-after") === "event") {
            box.dispatchEvent(new CustomEvent("recorder:done", { bubbles: true, detail: answer }));
          } else {
            window.setTimeout(function () { window.location.reload(); }, 800);
          }
          resolve(answer);
          return;
        }
        reject(new Error((answer && (answer.detail || answer.message)) || ("HTTP " + xhr.status)));
      });
      xhr.addEventListener("error", function () { reject(new Error("network")); });
      xhr.send(form);
    });
  }
  // Or a file made elsewhere (a phone's own recorder app, a studio take): sent as it is; the hub
  // checks and masters it.
  var upload = box.querySelector(".recorder-upload");
  var file = box.querySelector("#recording-file");
  var uploadButton = box.querySelector(".record-upload");
  if (upload && window.FormData) {
    upload.hidden = false;
    file.addEventListener("change", function () { uploadButton.disabled = !file.files.length; });
    uploadButton.addEventListener("click", function () {
      if (!file.files.length) { return; }
      uploadButton.disabled = true;
      say("sending");
      var form = new FormData();
      form.append("file", file.files[0], file.files[0].name);
      attach(form).catch(function (e) {
        uploadButton.disabled = false;
        say("failed", e && e.message);
      });
    });
  }
  if (!window.MediaRecorder || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("unsupported");
    return;
  }
  controls.hidden = false;
  var recorder = null, chunks = [], take = null, stream = null;

  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) {
      stream = s;
      chunks = [];
      take = null;
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", function (e) { if (e.data && e.data.size) { chunks.push(e.data); } });
      recorder.addEventListener("stop", function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        take = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
        playback.src = URL.createObjectURL(take);
        playback.hidden = false;
        send.disabled = false;
        start.disabled = false;
        stop.disabled = true;
        say("ready");
      });
      recorder.start();
      start.disabled = true;
      stop.disabled = false;
      send.disabled = true;
      say("recording");
    }).catch(function () { say("denied"); });
  });

  stop.addEventListener("click", function () {
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
  });

  function wav(buffer) {
    // Mix to mono, 16-bit PCM.
    var length = buffer.length, rate = buffer.sampleRate, channels = buffer.numberOfChannels;
    var mono = new Float32Array(length);
    for (var c = 0; c < channels; c++) {
      var data = buffer.getChannelData(c);
      for (var i = 0; i < length; i++) { mono[i] += data[i] / channels; }
    }
    var out = new DataView(new ArrayBuffer(44 + length * 2));
    function text(at, s) { for (var k = 0; k < s.length; k++) { out.setUint8(at + k, s.charCodeAt(k)); } }
    text(0, "RIFF"); out.setUint32(4, 36 + length * 2, true); text(8, "WAVE");
    text(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
    out.setUint32(24, rate, true); out.setUint32(28, rate * 2, true); out.setUint16(32, 2, true);
    out.setUint16(34, 16, true); text(36, "data"); out.setUint32(40, length * 2, true);
    for (var j = 0; j < length; j++) {
      var v = Math.max(-1, Math.min(1, mono[j]));
      out.setInt16(44 + j * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
    }
    return new Blob([out.buffer], { type: "audio/wav" });
  }

  send.addEventListener("click", function () {
    if (!take) { return; }
    send.disabled = true;
    say("sending");
    var Context = window.AudioContext || window.webkitAudioContext;
    take.arrayBuffer().then(function (bytes) {
      return new Context().decodeAudioData(bytes);
    }).then(function (buffer) {
      if (buffer.duration < 0.3) { throw new Error("short"); }
      var form = new FormData();
      form.append("file", wav(buffer), "ghi-am.wav");
      return attach(form);
    }).catch(function (e) {
      send.disabled = false;
      if (e && e.message === "short") { say("short"); } else { say("failed", e && e.message); }
    });
  });
})();
