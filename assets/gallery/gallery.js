// images-to-s3 gallery: live updates, the time-lapse player, keyboard shortcuts, and what a clip's
// page says when the browser cannot play it. No build step; every page works without it (links
// and forms), this only adds to them.

const page = document.body.dataset.page;

/**
 * Tells the server the viewer's time zone (a cookie it renders times in). A page rendered in
 * another zone (the first one after logging in, or after travelling) is loaded again, once.
 */
function tellTimeZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || !/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(zone)) return;
  const cookie = `images_to_s3_tz=${zone}`;
  if (!document.cookie.split('; ').includes(cookie)) {
    document.cookie = `${cookie}; path=${document.body.dataset.base}; max-age=31536000; samesite=strict${location.protocol === 'https:' ? '; secure' : ''}`;
  }
  const shown = document.body.dataset.timeZone;
  const reloaded = `images-to-s3 reloaded for ${zone}`;
  if (shown && shown !== zone && document.cookie.split('; ').includes(cookie) && !sessionStorage.getItem(reloaded)) {
    sessionStorage.setItem(reloaded, '1');
    location.reload();
  }
}
tellTimeZone();

/** Asks `element.dataset.refreshUrl` for news every `data-poll-ms`, while the page is visible. */
function poll(element, apply) {
  const url = element.dataset.refreshUrl;
  const interval = Number(element.dataset.pollMs) || 5000;
  let etag = null;
  let timer;
  let busy = false;
  const tick = async () => {
    clearTimeout(timer);
    if (busy) return;
    busy = true;
    try {
      const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: etag ? { 'if-none-match': etag } : {} });
      if (response.status === 401) {
        // The session ended: the reload shows the log-in page.
        location.reload();
        return;
      }
      if (response.ok) {
        etag = response.headers.get('etag');
        apply(await response.text(), response);
      }
    } catch {
      // Offline or restarting: the next tick tries again.
    } finally {
      busy = false;
    }
    if (!document.hidden) timer = setTimeout(tick, interval);
  };
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(timer);
    else void tick();
  });
  timer = setTimeout(tick, interval);
}

/**
 * Puts the items of `html` (each with data-key and data-version) into `list`, keeping the elements
 * that did not change (their images stay loaded, nothing flickers) and marking new ones.
 */
function reconcile(list, html) {
  const template = document.createElement('template');
  template.innerHTML = html;
  const current = new Map([...list.children].map((element) => [element.dataset.key, element]));
  const next = [...template.content.children].map((fresh) => {
    const old = current.get(fresh.dataset.key);
    if (old && old.dataset.version === fresh.dataset.version) return old;
    fresh.classList.add('fresh');
    return fresh;
  });
  const unchanged = next.length === list.children.length && next.every((element, i) => element === list.children[i]);
  if (!unchanged) list.replaceChildren(...next);
  decorateTimes(list);
}

/** As the server writes it (pages.ts, formatDuration), with no-break spaces. */
function ago(ms) {
  if (ms < 5000) return 'just\u00a0now';
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}\u00a0s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}\u00a0min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}\u00a0h ago`;
  return `${Math.round(hours / 24)}\u00a0days ago`;
}

/** Relative times kept current; every time gets its exact UTC moment as a tooltip. */
function decorateTimes(root = document) {
  for (const time of root.querySelectorAll('time[datetime]')) {
    const moment = new Date(time.getAttribute('datetime'));
    if (Number.isNaN(moment.getTime())) continue;
    if (time.dataset.relative) time.textContent = ago(Date.now() - moment.getTime());
    time.title = `${moment.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
  }
}

function encodeKey(key) {
  return key.split('/').map(encodeURIComponent).join('/');
}

// ------------------------------------------------------------------------------ overview

if (page === 'overview') {
  const cards = document.getElementById('cards');
  if (cards?.dataset.refreshUrl) {
    poll(cards, (html) => {
      reconcile(cards, html);
      document.querySelector('.empty')?.remove();
    });
  }
}

// ------------------------------------------------------------------------------ camera view

if (page === 'camera') {
  const thumbs = document.getElementById('thumbs');
  if (thumbs?.dataset.refreshUrl) {
    poll(thumbs, (html, response) => {
      reconcile(thumbs, html);
      // "12 images, 2 clips", as the server words it.
      const count = response.headers.get('x-count-label');
      const label = document.getElementById('image-count');
      if (label && count) label.textContent = count;
    });
  }
  const player = document.getElementById('player');
  if (player) timeLapse(player);
}

/** Plays the day's images in order at the chosen speed; the slider scrubs through them. */
function timeLapse(section) {
  const frame = section.querySelector('#player-frame');
  const play = section.querySelector('#player-play');
  const speed = section.querySelector('#player-speed');
  const position = section.querySelector('#player-position');
  const clock = section.querySelector('#player-time');
  let frames = null;
  let index = 0;
  let playing = false;
  let timer;
  const loaded = new Map();

  const load = async () => {
    if (frames) return frames;
    const response = await fetch(section.dataset.framesUrl, { credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) throw new Error(`frames: HTTP ${response.status}`);
    const data = await response.json();
    frames = data.images.map((image) => ({
      src: `${data.thumbnailPrefix}${encodeKey(image.key)}?size=preview`,
      time: image.time,
    }));
    position.max = String(Math.max(0, frames.length - 1));
    return frames;
  };

  // Frames are fetched a little ahead, and forgotten behind, so memory stays small all day long.
  const fetchFrame = (i) => {
    if (!loaded.has(i)) {
      const image = new Image();
      image.src = frames[i].src;
      loaded.set(i, image.decode().catch(() => undefined));
    }
    return loaded.get(i);
  };
  const show = async (i) => {
    index = Math.max(0, Math.min(frames.length - 1, i));
    await fetchFrame(index);
    for (let ahead = 1; ahead <= 16 && index + ahead < frames.length; ahead++) void fetchFrame(index + ahead);
    for (const seen of loaded.keys()) if (seen < index - 4 || seen > index + 40) loaded.delete(seen);
    frame.src = frames[index].src;
    frame.alt = `Time-lapse frame ${index + 1} of ${frames.length}, ${frames[index].time}`;
    position.value = String(index);
    clock.textContent = frames[index].time;
  };
  const stop = () => {
    playing = false;
    clearTimeout(timer);
    play.textContent = 'Play';
    play.setAttribute('aria-pressed', 'false');
  };
  const step = async () => {
    if (!playing) return;
    if (index >= frames.length - 1) {
      stop();
      return;
    }
    const started = performance.now();
    await show(index + 1);
    if (!playing) return;
    const wait = Math.max(0, 1000 / Number(speed.value) - (performance.now() - started));
    timer = setTimeout(step, wait);
  };
  play.addEventListener('click', async () => {
    if (playing) {
      stop();
      return;
    }
    try {
      await load();
    } catch {
      clock.textContent = 'Could not load the images.';
      return;
    }
    if (index >= frames.length - 1) await show(0);
    playing = true;
    play.textContent = 'Pause';
    play.setAttribute('aria-pressed', 'true');
    timer = setTimeout(step, 1000 / Number(speed.value));
  });
  position.addEventListener('input', async () => {
    await load();
    await show(Number(position.value));
  });
}

// ------------------------------------------------------------------------------ image view

if (page === 'image') {
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    // On a clip, the arrows seek in it.
    if (event.target instanceof Element && event.target.closest('input, select, textarea, video')) return;
    const rel = { ArrowLeft: 'prev', ArrowRight: 'next' }[event.key];
    const link = rel && document.querySelector(`.image-toolbar a[rel="${rel}"]`);
    if (link) {
      event.preventDefault();
      link.click();
    }
  });
  const video = document.getElementById('clip');
  if (video) explainUnplayable(video, document.getElementById('clip-problem'));
}

/**
 * Where the browser cannot play a clip (a codec it lacks, or nothing it can show as a picture) or
 * cannot load it, the player gives way to a message that says so, with the download.
 */
function explainUnplayable(video, problem) {
  const fail = () => {
    if (!problem.hidden) return;
    // MEDIA_ERR_NETWORK: it did not arrive, which is not the browser's lack.
    const unloaded = video.error?.code === 2;
    problem.querySelector('[data-problem="unplayable"]').hidden = unloaded;
    problem.querySelector('[data-problem="unloaded"]').hidden = !unloaded;
    problem.hidden = false;
    video.hidden = true;
    video.closest('figure')?.classList.add('clip-failed');
  };
  const noPicture = () => {
    if (video.readyState >= 1 && video.videoWidth === 0) fail();
  };
  video.addEventListener('error', fail);
  video.addEventListener('loadedmetadata', noPicture);
  // It may have failed, or loaded, before this script ran.
  if (video.error) fail();
  else noPicture();
}

decorateTimes();
setInterval(() => {
  for (const time of document.querySelectorAll('time[data-relative]')) time.textContent = ago(Date.now() - Date.parse(time.dataset.relative));
}, 15_000);
