// The display-board kiosk page: rotates the device's slides, switches to an emergency at once,
// and never blanks the screen because the network failed. See docs/display.md.
(() => {
  'use strict';

  const config = JSON.parse(document.getElementById('display-config').textContent);
  const token = new URLSearchParams(location.search).get('token') || '';
  const auth = 'token=' + encodeURIComponent(token);
  const TZ = 'Asia/Ho_Chi_Minh';
  const MEDIA_CACHE = 'hub-display-media-v1';
  const PAGE_CACHE = 'hub-display-page-v1';
  const STORE_KEY = 'hub-display:' + fingerprint(token);
  const DEFAULT_DURATION_S = config.default_duration_s || 10;
  const caches_ = window.caches || null; // only in a secure context (https or localhost)

  const body = document.body;
  // The two slide layers are made here, not in the page: HTML wants a src on every <img>, and
  // these get theirs only when a slide is shown.
  const layers = ['slide-a', 'slide-b'].map((id) => {
    const layer = document.createElement('img');
    layer.className = 'slide';
    layer.id = id;
    layer.alt = '';
    return layer;
  });
  document.getElementById('stage').prepend(...layers);
  const statusBox = document.getElementById('status');
  const statusText = document.getElementById('status-text');
  const clock = document.getElementById('clock');
  const dateLine = document.getElementById('date');
  const idleNote = document.getElementById('idle-note');

  const state = {
    manifest: null,
    etag: null,
    skewMs: 0,
    online: true,
    denied: false,
    images: new Map(),   // sha256 -> object URL of the bytes, so showing a slide needs no network
    loading: new Map(),  // sha256 -> promise
    failed: new Set(),   // sha256 that could not be had; retried on the next check
    current: null,       // the slide on screen
    pending: null,       // {slide, emergency} while a switch waits for its image to decode
    emergency: false,
    front: 0,            // which layer is visible
    timer: null,
    showing: 0,          // bumps with every switch, so a slow image decode cannot win over a newer one
    events: null,
    eventsOpen: false,
    lastCheck: 0,
    fetching: null,
  };

  // --- time ---------------------------------------------------------------------------------------

  function now() {
    return Date.now() + state.skewMs;
  }

  function learnSkew(serverTime) {
    const t = Date.parse(serverTime);
    if (!Number.isNaN(t)) state.skewMs = t - Date.now();
  }

  const clockFormat = new Intl.DateTimeFormat('vi-VN', {timeZone: TZ, hour: '2-digit', minute: '2-digit', hour12: false});
  const dateFormat = new Intl.DateTimeFormat('vi-VN', {timeZone: TZ, weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric'});

  function tick() {
    const t = new Date(now());
    clock.textContent = clockFormat.format(t);
    const date = dateFormat.format(t);
    dateLine.textContent = date.charAt(0).toUpperCase() + date.slice(1);
    // Validity windows open and close with time alone, with or without the hub.
    refresh(false);
  }

  // --- which slides are due ---------------------------------------------------------------------

  function orientation() {
    return window.innerHeight > window.innerWidth ? 'portrait' : 'landscape';
  }

  function dueSlides() {
    const slides = (state.manifest && state.manifest.slides) || [];
    const t = now();
    let due = slides.filter((s) => (!s.valid_from || Date.parse(s.valid_from) <= t) &&
                                  (!s.valid_until || Date.parse(s.valid_until) > t));
    const fitting = due.filter((s) => !s.orientation || s.orientation === orientation());
    if (fitting.length) due = fitting;
    const urgent = due.filter((s) => s.priority === 'emergency');
    return urgent.length ? {list: urgent, emergency: true} : {list: due, emergency: false};
  }

  // --- images: memory, then Cache Storage, then the hub --------------------------------------------

  function mediaUrl(slide) {
    return slide.url + (slide.url.includes('?') ? '&' : '?') + auth;
  }

  function load(slide) {
    const sha = slide.sha256;
    if (state.images.has(sha)) return Promise.resolve(true);
    if (state.loading.has(sha)) return state.loading.get(sha);
    const job = (async () => {
      let blob = null;
      const cache = caches_ ? await caches_.open(MEDIA_CACHE).catch(() => null) : null;
      if (cache) {
        const hit = await cache.match(slide.url).catch(() => null);
        if (hit) blob = await hit.blob();
      }
      if (!blob) {
        try {
          const response = await fetch(mediaUrl(slide), {credentials: 'omit'});
          if (response.ok) {
            if (cache) await cache.put(slide.url, response.clone()).catch(() => {});
            blob = await response.blob();
          }
        } catch (err) {
          // unreachable hub: the slide stays out of rotation until it can be had
        }
      }
      state.loading.delete(sha);
      if (!blob) {
        state.failed.add(sha);
        return false;
      }
      state.failed.delete(sha);
      state.images.set(sha, URL.createObjectURL(blob));
      refresh(false);
      return true;
    })();
    state.loading.set(sha, job);
    return job;
  }

  function loadAll() {
    const slides = (state.manifest && state.manifest.slides) || [];
    // Emergencies first: they are the ones that must appear at once.
    const ordered = slides.filter((s) => s.priority === 'emergency').concat(slides.filter((s) => s.priority !== 'emergency'));
    let chain = Promise.resolve();
    for (const slide of ordered) chain = chain.then(() => load(slide));
    return chain;
  }

  async function prune() {
    // Only after a fresh manifest from the hub: a cached one may be older than what we hold.
    const keep = new Set(((state.manifest && state.manifest.slides) || []).map((s) => s.sha256));
    for (const [sha, url] of state.images) {
      if (!keep.has(sha) && !(state.current && state.current.sha256 === sha)) {
        URL.revokeObjectURL(url);
        state.images.delete(sha);
      }
    }
    if (!caches_) return;
    const cache = await caches_.open(MEDIA_CACHE).catch(() => null);
    if (!cache) return;
    for (const request of await cache.keys()) {
      const sha = new URL(request.url).pathname.split('/').pop();
      if (!keep.has(sha)) await cache.delete(request);
    }
  }

  // --- what is on screen -------------------------------------------------------------------------

  function setMode(mode) {
    body.classList.toggle('idle', mode === 'idle');
    body.classList.toggle('emergency', mode === 'emergency' || mode === 'emergency-wait');
    body.classList.toggle('emergency-wait', mode === 'emergency-wait');
    body.dataset.state = mode === 'emergency-wait' ? 'emergency' : mode;
  }

  function showIdle() {
    clearTimeout(state.timer);
    state.timer = null;
    state.current = null;
    state.pending = null;
    state.emergency = false;
    state.showing += 1;
    for (const layer of layers) layer.classList.remove('shown');
    delete body.dataset.slide;
    delete body.dataset.bulletin;
    setMode('idle');
  }

  async function show(slide, emergency) {
    const turn = ++state.showing;
    clearTimeout(state.timer);
    state.timer = null;
    state.pending = {slide, emergency};
    const same = state.current && state.current.sha256 === slide.sha256;
    if (!same) {
      const back = layers[1 - state.front];
      back.src = state.images.get(slide.sha256);
      try {
        await back.decode();
      } catch (err) {
        // a broken image: leave the screen as it is and try the next slide
        if (turn !== state.showing) return;
        state.pending = null;
        state.failed.add(slide.sha256);
        URL.revokeObjectURL(state.images.get(slide.sha256));
        state.images.delete(slide.sha256);
        if (caches_) caches_.open(MEDIA_CACHE).then((cache) => cache.delete(slide.url)).catch(() => {});
        state.timer = setTimeout(() => refresh(true), 1000);
        return;
      }
      if (turn !== state.showing) return;
      back.classList.add('shown');
      layers[state.front].classList.remove('shown');
      state.front = 1 - state.front;
    }
    state.pending = null;
    state.current = slide;
    state.emergency = emergency;
    body.dataset.slide = slide.sha256;
    body.dataset.bulletin = slide.bulletin_id;
    setMode(emergency ? 'emergency' : 'rotating');
    const seconds = Number(slide.duration_s) > 0 ? Number(slide.duration_s) : DEFAULT_DURATION_S;
    state.timer = setTimeout(() => refresh(true), seconds * 1000);
  }

  // Decide what to show: called when a slide's time is up (advance), and whenever anything changed.
  function refresh(advance) {
    if (state.denied) return;
    const {list, emergency} = dueSlides();
    const ready = list.filter((s) => state.images.has(s.sha256));
    if (!list.length) {
      if (body.dataset.state !== 'idle') showIdle();
      return;
    }
    if (state.pending && state.pending.emergency === emergency &&
        ready.some((s) => s.sha256 === state.pending.slide.sha256)) {
      return; // a switch is under way and still right
    }
    if (!ready.length) {
      if (emergency) {
        if (!state.emergency || state.current) {
          // The emergency's image is still on its way: take the screen now, fill it when it comes.
          showIdle();
          setMode('emergency-wait');
          state.emergency = true;
        }
      } else if (state.emergency) {
        showIdle(); // the emergency is over and the ordinary slides are not here yet
      } else if (!list.some((s) => state.loading.has(s.sha256)) && body.dataset.state !== 'idle') {
        // What is shown has left the manifest and nothing new can be had: the idle screen.
        showIdle();
      }
      return;
    }
    const index = state.current ? ready.findIndex((s) => s.sha256 === state.current.sha256) : -1;
    const modeChanged = emergency !== state.emergency || body.dataset.state === 'idle';
    if (modeChanged || index === -1) {
      show(ready[0], emergency);
    } else if (advance) {
      show(ready[(index + 1) % ready.length], emergency);
    } else if (!state.timer) {
      show(ready[index], emergency);
    }
  }

  // --- talking to the hub -------------------------------------------------------------------------

  function setOnline(online) {
    state.online = online;
    body.dataset.online = String(online);
    statusText.textContent = state.manifest && (state.manifest.slides || []).length
      ? 'Mất kết nối – đang hiển thị nội dung đã lưu'
      : 'Mất kết nối với máy chủ';
    statusBox.hidden = online;
  }

  function save() {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify({etag: state.etag, manifest: state.manifest, saved_at: Date.now()}));
    } catch (err) {
      // storage full or disabled: the board still works, it just starts empty after a reboot
    }
  }

  function restore() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
      if (saved && saved.manifest) {
        state.manifest = saved.manifest;
        state.etag = saved.etag;
        learnSkew(saved.manifest.server_time);
        state.skewMs += Date.now() - saved.saved_at; // the saved server time is as old as the save
      }
    } catch (err) {
      localStorage.removeItem(STORE_KEY);
    }
  }

  function deny(message) {
    // A revoked or wrong token must not keep showing bulletins, even ones it already has.
    state.denied = true;
    state.manifest = null;
    state.etag = null;
    localStorage.removeItem(STORE_KEY);
    if (caches_) {
      caches_.delete(PAGE_CACHE).catch(() => {});
      caches_.delete(MEDIA_CACHE).catch(() => {});
    }
    if (state.events) state.events.close();
    showIdle();
    idleNote.textContent = message;
    statusBox.hidden = true;
  }

  function check() {
    if (state.fetching) return state.fetching;
    state.fetching = (async () => {
      state.lastCheck = Date.now();
      try {
        const headers = state.etag ? {'If-None-Match': state.etag} : {};
        const response = await fetch('/display/manifest?' + auth, {cache: 'no-store', credentials: 'omit', headers});
        if (response.status === 401 || response.status === 403) {
          deny('Thiết bị chưa được cấp quyền hiển thị – vui lòng liên hệ quản trị viên');
          return;
        }
        if (response.status === 304) {
          setOnline(true);
          state.failed.clear();
          loadAll();
          return;
        }
        if (!response.ok) throw new Error('hub answered ' + response.status);
        const manifest = await response.json();
        if (state.denied) {
          location.reload();
          return;
        }
        learnSkew(manifest.server_time);
        state.manifest = manifest;
        state.etag = response.headers.get('ETag');
        save();
        setOnline(true);
        state.failed.clear();
        refresh(false);
        await loadAll();
        await prune();
      } catch (err) {
        setOnline(false);
      } finally {
        state.fetching = null;
      }
    })();
    return state.fetching;
  }

  function listen() {
    if (!window.EventSource || state.denied) return;
    const events = new EventSource('/display/events?' + auth);
    state.events = events;
    events.addEventListener('open', () => {
      state.eventsOpen = true;
    });
    events.addEventListener('manifest', (event) => {
      let etag = null;
      try {
        etag = JSON.parse(event.data).etag;
      } catch (err) {
        // malformed event: check anyway
      }
      setOnline(true);
      if (!etag || etag !== state.etag) check();
    });
    events.addEventListener('error', () => {
      state.eventsOpen = false;
      // The stream dropped: find out at once whether the hub is gone or only the stream.
      check();
      if (events.readyState === EventSource.CLOSED && !state.denied) {
        setTimeout(() => {
          if (state.events === events) listen();
        }, 10000);
      }
    });
  }

  function poll() {
    const since = (Date.now() - state.lastCheck) / 1000;
    if ((!state.eventsOpen && since >= config.poll_s) || since >= config.resync_s) check();
  }

  async function heartbeat() {
    if (state.denied) return;
    const payload = {
      status: state.current ? 'playing' : 'idle',
      orientation: orientation(),
      screen: window.screen.width + 'x' + window.screen.height,
      showing: state.current ? state.current.bulletin_id : null,
      slide: state.current ? state.current.sha256 : null,  // the console shows it as a thumbnail
      emergency: state.emergency,
      agent: 'hub-display/1',
    };
    try {
      await fetch('/api/v1/device/heartbeat', {
        method: 'POST', credentials: 'omit', cache: 'no-store',
        headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'},
        body: JSON.stringify(payload),
      });
    } catch (err) {
      // the manifest checks report the connection state; a lost heartbeat is simply lost
    }
  }

  function offlineShell() {
    // A service worker keeps the page itself available for a reboot while the hub is down.
    if (!('serviceWorker' in navigator) || !caches_) return;
    navigator.serviceWorker.register('/display/sw.js', {scope: '/display'}).catch(() => {});
    caches_.open(PAGE_CACHE)
      .then((cache) => cache.addAll([location.href, '/display/static/display.js', '/display/static/display.css']))
      .catch(() => {});
  }

  function fingerprint(text) {
    // Names the saved manifest per device without putting the token itself in storage (FNV-1a).
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16);
  }

  // --- start --------------------------------------------------------------------------------------

  // The clock is the hub's once a manifest says what time it is there (the saved one until then);
  // not the page's own server_time, which is stale when the page comes from the offline cache.
  restore();
  tick();
  if (state.manifest) loadAll();
  check();
  listen();
  heartbeat();
  offlineShell();
  setInterval(tick, 1000);
  setInterval(poll, 5000);
  setInterval(heartbeat, (config.heartbeat_s || 60) * 1000);
  window.addEventListener('resize', () => refresh(false));
})();
