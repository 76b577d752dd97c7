/**
 * The gallery's pages, rendered on the server as plain HTML (no inline script or style, so the
 * strict Content-Security-Policy holds); `assets/gallery/gallery.js` adds live updates, the
 * time-lapse player and keyboard shortcuts on top.
 *
 * @module
 */
import { formatBytes } from '../core/byte-size.js';
import { nearestImage } from './catalog.js';
import type { CameraSummary, CatalogItem } from './catalog.js';
import { html, joinHtml } from './html.js';
import type { Html } from './html.js';
import { ALL_IMAGES } from './layout.js';
import type { Day } from './layout.js';
import type { MediaKind } from './media.js';
import { formatDay, formatShortDay } from './times.js';
import type { Times } from './times.js';
import type { GalleryUrls } from './urls.js';

interface LayoutOptions {
  urls: GalleryUrls;
  title: string;
  page: 'overview' | 'camera' | 'image' | 'login' | 'message';
  /** The zone the page's times are in (the script compares it with the browser's). */
  times?: Times;
  /** Breadcrumb after "Cameras"; undefined on the login page (no navigation without a session). */
  crumbs?: Array<{ label: string; href?: string }>;
  body: Html;
}

/** The frame every page shares: header with breadcrumb and log-out, skip link, assets. */
export function layout({ urls, title, page, times, crumbs, body }: LayoutOptions): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark">
<title>${title} · images-to-s3</title>
<link rel="icon" href="${urls.asset('icon.svg')}" type="image/svg+xml">
<link rel="stylesheet" href="${urls.asset('gallery.css')}">
<script type="module" src="${urls.asset('gallery.js')}"></script>
</head>
<body data-page="${page}" data-base="${urls.cookiePath}"${times && html` data-time-zone="${times.zone}"`}>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <a class="brand" href="${urls.overview()}"><img src="${urls.asset('icon.svg')}" alt="" width="24" height="24"><span>images-to-s3</span></a>
  ${crumbs !== undefined &&
  html`<nav class="crumbs" aria-label="Breadcrumb"><ol>
    <li><a href="${urls.overview()}"${crumbs.length === 0 ? html` aria-current="page"` : ''}>Cameras</a></li>
    ${crumbs.map(crumbItem)}
  </ol></nav>
  <form class="logout" method="post" action="${urls.logout()}"><button type="submit" class="button ghost">Log out</button></form>`}
</header>
<main id="main" tabindex="-1">
${body}
</main>
</body>
</html>
`;
}

function crumbItem(crumb: { label: string; href?: string }): Html {
  const content = crumb.href ? html`<a href="${crumb.href}">${crumb.label}</a>` : html`<span aria-current="page">${crumb.label}</span>`;
  return html`<li>${content}</li>`;
}

export function loginPage(urls: GalleryUrls, options: { next: string; error?: string; status?: string }): Html {
  return layout({
    urls,
    title: 'Log in',
    page: 'login',
    body: html`<form class="login-card" method="post" action="${urls.login()}">
  <h1>Camera gallery</h1>
  <p class="lede">Enter the gallery password to see what the cameras sent.</p>
  ${options.error && html`<p class="alert" role="alert">${options.error}</p>`}
  <label for="password">Gallery password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required autofocus>
  <input type="hidden" name="next" value="${options.next}">
  <button type="submit" class="button primary">Log in</button>
  <p class="hint">${LOGIN_HINT}</p>
</form>`,
  });
}

const LOGIN_HINT = joinHtml(
  [
    html`This is the password <code>images-to-s3 serve</code> printed at its first start`,
    html`(or <code>--gallery-password</code>), not a camera's access token.`,
  ],
  ' ',
);

export function overviewPage(
  urls: GalleryUrls,
  times: Times,
  summaries: CameraSummary[],
  options: { pollMs: number; now: Date; notice?: string },
): Html {
  const count = summaries.length;
  const meta = joinHtml(
    [
      html`<span>${count === 1 ? '1 camera' : `${count} cameras`}</span>`,
      html`<span class="time-zone">times in ${times.zoneName(options.now)}</span>`,
      html`<span class="live-note" aria-live="polite">updates by itself</span>`,
    ],
    ' · ',
  );
  return layout({
    urls,
    title: 'Cameras',
    page: 'overview',
    times,
    crumbs: [],
    body: html`<div class="page-head">
  <h1>Cameras</h1>
  <p class="meta">${meta}</p>
</div>
${options.notice !== undefined && html`<p class="notice" role="status">${options.notice}</p>`}
${count === 0 && html`<p class="empty">${NO_CAMERAS}</p>`}
<ul class="cards" id="cards" data-refresh-url="${urls.cardsFragment()}" data-poll-ms="${options.pollMs}">
${cameraCards(urls, times, summaries, options.now)}
</ul>`,
  });
}

const NO_CAMERAS = html`No images yet. Point a camera at this receiver, or try <code>images-to-s3 simulate</code>; its images show up here.`;

/** The overview's cards; also the live-update fragment. */
export function cameraCards(urls: GalleryUrls, times: Times, summaries: CameraSummary[], now: Date): Html {
  return html`${summaries.map((summary) => cameraCard(urls, times, summary, now))}`;
}

/** Changes whenever anything a camera's card shows changes, so live updates replace only cards that changed. */
export function cardVersion(summary: CameraSummary): string {
  return [summary.latest?.key ?? '', summary.lastReceived?.key ?? '', summary.today, summary.clipsToday, summary.state, summary.waiting ?? 0].join('|');
}

function cameraCard(urls: GalleryUrls, times: Times, summary: CameraSummary, now: Date): Html {
  const { camera, latest, lastReceived } = summary;
  const name = cameraLabel(camera);
  const state = {
    live: { label: 'Live', detail: 'sending as usual' },
    overdue: { label: 'Overdue', detail: `nothing for ${formatDuration(summary.silentMs ?? 0)}` },
    unknown: { label: 'Quiet', detail: 'too few images to know its interval' },
    never: { label: 'No images', detail: 'has not sent anything yet' },
  }[summary.state];
  const alt = latest && `Latest image from ${name}, ${times.dayAndTime(latest.storedAt)} ${times.zone}`;
  const media = latest
    ? html`<img src="${urls.thumbnail(latest.key, 'preview')}" alt="${alt}" width="960" height="540" decoding="async">`
    : html`<div class="no-image${lastReceived && ' clips-only'}" aria-hidden="true">${lastReceived ? 'Only clips on its latest day' : 'No image yet'}</div>`;
  // `14 today` from a camera that sends images only; `12 images, 2 clips today` from one that sends both.
  const today =
    summary.clipsToday === 0
      ? html`<strong>${summary.today.toLocaleString('en')}</strong> today`
      : html`${joinHtml(counted(summary.today, summary.clipsToday).map(({ count, noun }) => html`<strong>${count}</strong> ${noun}`), ', ')} today`;
  const stats = [
    today,
    summary.usualIntervalMs !== undefined && html`usually every ${formatDuration(summary.usualIntervalMs)}`,
    summary.state === 'overdue' && html`<span class="warn">${state.detail}</span>`,
    summary.waiting !== undefined && waitingNote(summary.waiting),
  ];
  return html`<li class="card state-${summary.state}" data-key="${camera}" data-version="${cardVersion(summary)}">
  <a class="card-link" href="${urls.camera(camera, lastReceived?.day)}">
    <div class="card-media">${media}
      <span class="badge badge-${summary.state}" title="${state.detail}">${state.label}</span>
    </div>
    <div class="card-body">
      <h2>${name}</h2>
      <p class="latest">${lastReceived ? latestTimes(times, lastReceived, now) : state.detail}</p>
      <p class="stats">${joinHtml(stats, ' · ')}</p>
    </div>
  </a>
</li>`;
}

/** When the latest thing a camera sent came (and that it was a clip, if it was): the time, and how long ago (kept current by the script). */
function latestTimes(times: Times, latest: CatalogItem, now: Date): Html {
  const at = latest.storedAt.toISOString();
  const time = html`<time datetime="${at}">${times.timeOn(latest.storedAt, times.dayOf(now))}</time>`;
  const ago = html`<time class="ago" data-relative="${at}" datetime="${at}">${formatAgo(now.getTime() - latest.storedAt.getTime())}</time>`;
  return html`${latest.kind === 'clip' ? 'Latest clip' : 'Latest'} ${time} · ${ago}`;
}

/** Images a camera sent that are on the receiver's disk, not yet in the store. */
function waitingNote(waiting: number): Html {
  const title = html`title="Received and safe on the receiver's disk; moved to the store when it can be reached"`;
  return html`<span class="waiting" ${title}>${waiting.toLocaleString('en')} waiting to be forwarded</span>`;
}

export interface CameraPageModel {
  camera: string;
  day: Day;
  today: Day;
  /** The day's images and clips, oldest first. */
  items: CatalogItem[];
  page: number;
  pageSize: number;
  /** How long the clips on this page play, in ms, where that could be read. */
  durations: ReadonlyMap<string, number>;
  previousDay?: Day;
  nextDay?: Day;
  recentDays: Day[];
  pollMs: number;
  /** The URL cameras send images to, for the set-up line an empty camera's page shows. */
  recipientUrl: string;
}

export function cameraPage(urls: GalleryUrls, times: Times, model: CameraPageModel): Html {
  const { camera, day, items, page, pageSize } = model;
  const images = items.filter((item) => item.kind === 'image');
  const name = cameraLabel(camera);
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const live = day === model.today && page === 1;
  const dayLink = (target: Day | undefined, rel: 'prev' | 'next'): Html => {
    const label = target ? formatShortDay(target) : rel === 'prev' ? 'Older' : 'Newer';
    const dayLabel = html`<span class="day-label">${label}</span>`;
    const content = rel === 'prev' ? html`<span aria-hidden="true">←</span> ${dayLabel}` : html`${dayLabel} <span aria-hidden="true">→</span>`;
    const name = `${rel === 'prev' ? 'Previous' : 'Next'} day with images${target ? `: ${formatDay(target)}` : ''}`;
    return target
      ? html`<a class="button" rel="${rel}" href="${urls.camera(camera, target)}" aria-label="${name}">${content}</a>`
      : html`<span class="button disabled" aria-disabled="true" aria-label="${`No ${name.toLowerCase()}`}">${content}</span>`;
  };
  const refresh = live && html` data-refresh-url="${urls.dayFragment(camera, day)}" data-poll-ms="${model.pollMs}" data-page-size="${pageSize}"`;
  return layout({
    urls,
    title: `${name} · ${formatDay(day)}`,
    page: 'camera',
    times,
    crumbs: [{ label: name }],
    body: html`<div class="page-head">
  <h1>${name}</h1>
  <form class="day-picker" method="get" action="${urls.camera(camera)}">
    ${dayLink(model.previousDay, 'prev')}
    <label class="visually-hidden" for="day">Day (UTC)</label>
    <input type="date" id="day" name="day" value="${day}" max="${model.today}" required>
    <button type="submit" class="button">Show</button>
    ${dayLink(model.nextDay, 'next')}
  </form>
</div>
${model.recentDays.length > 1 && dayChips(urls, model)}
<p class="meta" id="day-meta">${dayMeta(times, model, pages, live)}</p>
${images.length > 0 && player(urls, times, camera, day, images)}
${items.length === 0 && emptyCamera(camera, day, model)}
<ol class="thumbs" id="thumbs"${refresh}>
${thumbnailTiles(urls, times, { day, items, page, pageSize, durations: model.durations })}
</ol>
${pages > 1 && pager(urls, camera, day, page, pages)}`,
  });
}

/** Links to the camera's last days with images (today's says so). */
function dayChips(urls: GalleryUrls, model: CameraPageModel): Html {
  const chip = (recent: Day): Html => {
    const current = recent === model.day ? html` aria-current="date"` : '';
    const label = recent === model.today ? 'Today' : formatShortDay(recent);
    return html`<li><a href="${urls.camera(model.camera, recent)}"${current}>${label}</a></li>`;
  };
  return html`<nav class="day-chips" aria-label="Recent days with images"><ul>${model.recentDays.map(chip)}</ul></nav>`;
}

/** How many images and clips the day has, which zone its times are in, and which page this is. */
function dayMeta(times: Times, model: CameraPageModel, pages: number, live: boolean): Html {
  const { day, items, page, pageSize } = model;
  const utc = times.zone === 'UTC';
  return joinHtml(
    [
      html`<span id="image-count">${itemCount(items)}</span> on ${formatDay(day)}${utc ? ' (UTC)' : ' (a UTC day)'}`,
      !utc && html`<span class="time-zone">times in ${times.zoneName(new Date(`${day}T12:00:00Z`))}</span>`,
      items.length > pageSize && `page ${page} of ${pages}`,
      'newest first',
      live && html`<span class="live-note">updates by itself</span>`,
    ],
    ' · ',
  );
}

/** Which of a day's items page `page` shows: newest first. */
function itemsOnPage(items: readonly CatalogItem[], page: number, pageSize: number): CatalogItem[] {
  return newestFirst(items).slice((page - 1) * pageSize, page * pageSize);
}

/** The clips page `page` of a day shows, whose durations its tiles want. */
export function clipKeysOnPage(items: readonly CatalogItem[], page: number, pageSize: number): string[] {
  return itemsOnPage(items, page, pageSize)
    .filter((item) => item.kind === 'clip')
    .map((item) => item.key);
}

/**
 * Page `page` of a day's thumbnails (`items` oldest first, shown newest first); also the camera
 * view's live-update fragment. Each is labelled with a time that tells it from its neighbours. A
 * clip is marked as one, with its duration where known, and pictured by the snapshot taken
 * nearest to it (see {@link nearestImage}) or a neutral clip tile.
 */
export function thumbnailTiles(
  urls: GalleryUrls,
  times: Times,
  { day, items, page, pageSize, durations }: { day: Day; items: CatalogItem[]; page: number; pageSize: number; durations: ReadonlyMap<string, number> },
): Html {
  const labels = times.distinctLabels(items, day);
  const tile = (item: CatalogItem): Html => {
    const time = html`<time datetime="${item.storedAt.toISOString()}">${labels.get(item.key)}</time>`;
    if (item.kind === 'image') {
      const thumbnail = html`<img src="${urls.thumbnail(item.key)}" alt="${imageAlt(times, item)}" width="320" height="180" loading="lazy" decoding="async">`;
      return html`<li data-key="${item.key}" data-version="1"><a href="${urls.view(item.key)}">${thumbnail}${time}</a></li>`;
    }
    const poster = nearestImage(items, item);
    const durationMs = durations.get(item.key);
    const alt = clipAlt(times, item, poster);
    const picture = html`<img src="${urls.thumbnail(poster?.key ?? item.key)}" alt="${alt}" width="320" height="180" loading="lazy" decoding="async">`;
    const mark = html`<span class="clip-mark"><span aria-hidden="true">▶ </span>Clip${durationMs !== undefined && html` <span class="clip-duration">${formatClipDuration(durationMs)}</span>`}</span>`;
    // The version changes once the duration is known, so a live update puts it in.
    return html`<li class="clip" data-key="${item.key}" data-version="${durationMs === undefined ? '1' : '2'}"><a href="${urls.view(item.key)}">${picture}${mark}${time}</a></li>`;
  };
  return html`${itemsOnPage(items, page, pageSize).map(tile)}`;
}

/** What an empty day says: for a camera that never sent anything, how to set it up. */
function emptyCamera(camera: string, day: Day, model: CameraPageModel): Html {
  const name = cameraLabel(camera);
  if (model.recentDays.length > 0 || model.previousDay !== undefined || camera === ALL_IMAGES) {
    return html`<p class="empty">No images from ${name} on ${formatDay(day)}.</p>`;
  }
  const setup = [
    'npx images-to-s3 camera setup --camera <camera address> --user root',
    `--recipient ${model.recipientUrl} --name ${camera} --create-token`,
  ].join(' ');
  return html`<div class="empty setup-hint">
  <p>${name} has not sent any image yet. To have an Axis camera send one a minute, run:</p>
  <pre><code>${setup}</code></pre>
  <p>${SETUP_NOTES}</p>
</div>`;
}

/** What the set-up line of an empty camera's page needs, and what it does. */
const SETUP_NOTES = joinHtml(
  [
    html`with the camera's address, and its administrator's password in <code>IMAGES_TO_S3_CAMERA_PASSWORD</code>.`,
    html`<code>--create-token</code> gives it a token of its own; with a token you already have, give <code>--token</code> instead.`,
    'Images show up here as they arrive.',
  ],
  ' ',
);

function newestFirst(items: readonly CatalogItem[]): CatalogItem[] {
  return [...items].reverse();
}

/** The time-lapse player, of the day's images (clips are not frames of it). */
function player(urls: GalleryUrls, times: Times, camera: string, day: Day, images: CatalogItem[]): Html {
  const first = images[0]!;
  const hint = html`<span class="player-hint">${imageCount(images.length)} in order, oldest first</span>`;
  const frameAlt = `Time-lapse frame: ${imageAlt(times, first)}`;
  return html`<section class="player" id="player" aria-labelledby="player-title" data-frames-url="${urls.dayImages(camera, day)}">
  <div class="player-head"><h2 id="player-title">Time-lapse</h2>${hint}</div>
  <div class="player-screen"><img id="player-frame" src="${urls.thumbnail(first.key, 'preview')}" alt="${frameAlt}" width="960" height="540"></div>
  <div class="player-controls">
    <button type="button" class="button primary" id="player-play" aria-pressed="false">Play</button>
    <label class="player-speed" title="Images per second"><span class="speed-word">Speed</span> <select id="player-speed">
      <option value="2">2/s</option>
      <option value="5">5/s</option>
      <option value="10" selected>10/s</option>
      <option value="25">25/s</option>
      <option value="50">50/s</option>
    </select></label>
    <input type="range" id="player-position" min="0" max="${images.length - 1}" value="0" step="1" aria-label="Time-lapse position">
    <output id="player-time" for="player-position">${times.distinctLabels(images, day).get(first.key)}</output>
  </div>
</section>`;
}

function pager(urls: GalleryUrls, camera: string, day: Day, page: number, pages: number): Html {
  /** The link to page `target`, or a disabled button where there is none. */
  const step = (target: number, rel: 'prev' | 'next', label: string): Html =>
    target >= 1 && target <= pages
      ? html`<a class="button" rel="${rel}" href="${urls.camera(camera, day, target)}">${label}</a>`
      : html`<span class="button disabled" aria-disabled="true">${label}</span>`;
  const item = (n: number | undefined): Html => {
    if (n === undefined) return html`<li class="gap" aria-hidden="true">…</li>`;
    const current = n === page ? html` aria-current="page"` : '';
    return html`<li><a href="${urls.camera(camera, day, n)}"${current} aria-label="${`Page ${n}`}">${n}</a></li>`;
  };
  return html`<nav class="pager" aria-label="Pages of this day">
  ${step(page - 1, 'prev', '← Newer')}
  <ol>${pageNumbers(page, pages).map(item)}</ol>
  ${step(page + 1, 'next', 'Older →')}
</nav>`;
}

/** Page numbers to offer: the first, the last, and two either side of the current one. */
function pageNumbers(page: number, pages: number): Array<number | undefined> {
  const shown: Array<number | undefined> = [];
  for (let n = 1; n <= pages; n++) {
    if (n === 1 || n === pages || Math.abs(n - page) <= 2) shown.push(n);
    else if (shown.at(-1) !== undefined) shown.push(undefined);
  }
  return shown;
}

export interface ImagePageModel {
  key: string;
  /** An image is shown; a clip is played in the page. */
  kind: MediaKind;
  /** The item as the catalog lists it, when its key is of the layout. */
  item?: CatalogItem;
  size: number;
  storedAt: Date;
  contentType: string;
  receivedAt?: Date;
  cameraFilename?: string;
  camera?: string;
  /** The items before and after it in time, images and clips alike (across days). */
  older?: CatalogItem;
  newer?: CatalogItem;
  position?: { index: number; of: number };
  /** A clip: how long it plays, where that could be read. */
  durationMs?: number;
  /** A clip: the snapshot taken nearest to it (see {@link nearestImage}), shown until it plays. */
  poster?: CatalogItem;
}

/** The view of one image, or of one clip (played in the page). */
export function imagePage(urls: GalleryUrls, times: Times, model: ImagePageModel): Html {
  const { key, item } = model;
  const clip = model.kind === 'clip';
  const camera = item?.camera ?? model.camera;
  const name = camera === undefined ? undefined : cameraLabel(camera);
  const when = model.receivedAt ?? model.storedAt;
  const filename = key.slice(key.lastIndexOf('/') + 1);
  const alt = item ? (clip ? clipAlt(times, item) : imageAlt(times, item)) : `${name ?? (clip ? 'Clip' : 'Image')} ${filename}`;
  const zone = times.zoneName(when);
  /** The link to the older or newer item, or a disabled button where there is none. */
  const step = (target: CatalogItem | undefined, rel: 'prev' | 'next', label: string): Html => {
    const text = rel === 'prev' ? `← ${label}` : `${label} →`;
    if (!target) return html`<span class="button disabled" aria-disabled="true">${text}</span>`;
    const title = `${label}${target.kind === 'clip' ? ' (a clip)' : ''}: ${times.dayAndTime(target.storedAt)}`;
    return html`<a class="button" rel="${rel}" href="${urls.view(target.key)}" title="${title}">${text}</a>`;
  };
  const download = html`<a class="button primary" href="${urls.image(key, true)}" download="${filename}">${clip ? 'Download clip' : 'Download'}</a>`;
  const duration = model.durationMs !== undefined && formatClipDuration(model.durationMs);
  const shownTime = html`<time datetime="${when.toISOString()}">${times.dayAndTime(when)}</time>`;
  const received = `${formatDay(times.dayOf(when))} ${model.receivedAt ? times.preciseTime(when) : times.time(when)}`;
  const receivedTime = html`<time datetime="${when.toISOString()}">${received}</time>`;
  const cameraFilename = model.cameraFilename
    ? html`<code>${model.cameraFilename}</code>`
    : html`<span class="muted">not kept by this store</span>`;
  const caption = joinHtml([clip && html`<span class="clip-mark">Clip${duration && ` ${duration}`}</span>`, name, html`${shownTime} <span class="time-zone">${zone}</span>`], ' · ');
  const media = clip
    ? clipPlayer(urls, times, model, alt, download)
    : html`<img id="full-image" src="${urls.image(key)}" alt="${alt}">`;
  return layout({
    urls,
    title: `${name ?? (clip ? 'Clip' : 'Image')} · ${clip ? 'clip ' : ''}${times.time(when)}`,
    page: 'image',
    times,
    crumbs: [
      ...(camera !== undefined ? [{ label: name!, href: urls.camera(camera, item?.day) }] : []),
      { label: item ? `${formatShortDay(times.dayOf(item.storedAt))} ${times.time(item.storedAt)}${clip ? ' (clip)' : ''}` : filename },
    ],
    body: html`<div class="image-toolbar">
  ${step(model.older, 'prev', 'Older')}
  <span class="position">${model.position ? `${model.position.index + 1} of ${model.position.of}` : ''}</span>
  ${step(model.newer, 'next', 'Newer')}
</div>
<figure class="full-image${clip && ' full-clip'}">
  ${media}
  <figcaption>${caption}</figcaption>
</figure>
<div class="image-details">
  ${download}
  <dl class="facts">
    <dt>Key</dt><dd><code>${key}</code></dd>
    ${name && html`<dt>Camera</dt><dd>${name}</dd>`}
    <dt>Received</dt><dd>${receivedTime} ${zone}</dd>
    ${duration && html`<dt>Duration</dt><dd>${duration}</dd>`}
    <dt>Size</dt><dd>${formatBytes(model.size)} (${model.size.toLocaleString('en')} bytes)</dd>
    <dt>Type</dt><dd>${model.contentType}</dd>
    <dt>Camera filename</dt><dd>${cameraFilename}</dd>
  </dl>
  <p class="hint">Keys <kbd>←</kbd> and <kbd>→</kbd> step to the older and newer image or clip${clip ? ' (while the player has the focus, they seek in it)' : ''}.</p>
</div>`,
  });
}

/**
 * A clip, played by the browser from its bytes as stored (served in ranges, so it can seek), with
 * the nearest snapshot as its picture until it plays. Where the browser cannot play it (a codec it
 * lacks) or load it, the script shows why, with the download.
 */
function clipPlayer(urls: GalleryUrls, times: Times, model: ImagePageModel, label: string, download: Html): Html {
  const { key, poster } = model;
  const posterAttribute = poster && html` poster="${urls.thumbnail(poster.key, 'preview')}"`;
  const posterNote = poster && html`<p class="clip-poster-note">Shown before it plays: the snapshot of ${times.time(poster.storedAt)}.</p>`;
  return html`<video id="clip" src="${urls.image(key)}" controls preload="metadata" playsinline${posterAttribute} aria-label="${label}">
    <p>This browser does not play videos in pages. ${download}</p>
  </video>
  <div class="clip-problem" id="clip-problem" role="alert" hidden>
    <p data-problem="unplayable"><strong>This browser cannot play this clip</strong> (${model.contentType}, in a codec it lacks). Download it to play it in a video player.</p>
    <p data-problem="unloaded" hidden><strong>The clip could not be loaded.</strong> Try again in a moment, or download it.</p>
    <p>${download}</p>
  </div>
  ${posterNote}`;
}

export function messagePage(urls: GalleryUrls, options: { title: string; message: string; signedIn: boolean }): Html {
  const back = html`<a class="button" href="${urls.overview()}">Back to the cameras</a>`;
  return layout({
    urls,
    title: options.title,
    page: 'message',
    ...(options.signedIn && { crumbs: [] }),
    body: html`<div class="message-card"><h1>${options.title}</h1><p>${options.message}</p><p>${back}</p></div>`,
  });
}

/**
 * The picture of a clip that has no snapshot near it: a film strip's plain frame, never a broken
 * image (the style sheet puts the play sign over every clip's picture).
 */
export const CLIP_TILE_SVG = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180" viewBox="0 0 320 180">',
  '<defs><pattern id="holes" width="20" height="180" patternUnits="userSpaceOnUse">',
  '<rect x="6" y="8" width="8" height="10" rx="2" fill="#2c3542"/><rect x="6" y="162" width="8" height="10" rx="2" fill="#2c3542"/>',
  '</pattern></defs>',
  '<rect width="320" height="180" fill="#161b22"/>',
  '<rect y="26" width="320" height="128" fill="#1f2630"/>',
  '<rect width="320" height="180" fill="url(#holes)"/>',
  '</svg>',
].join('');

/** An SVG shown in place of a thumbnail that cannot be made. */
export const PLACEHOLDER_SVG = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">',
  '<rect width="320" height="240" fill="#1f2630"/>',
  '<text x="160" y="126" fill="#8a96a8" font-family="sans-serif" font-size="16" text-anchor="middle">No preview</text>',
  '</svg>',
].join('');

function cameraLabel(camera: string): string {
  return camera === ALL_IMAGES ? 'All images' : camera;
}

function imageAlt(times: Times, image: CatalogItem): string {
  return `${cameraLabel(image.camera)}, ${times.dayAndTime(image.storedAt)} ${times.zone}`;
}

/** What a clip's picture stands for: the clip, and which snapshot shows it (if one does). */
function clipAlt(times: Times, clip: CatalogItem, poster?: CatalogItem): string {
  const picture = poster ? ` (pictured by the snapshot of ${times.time(poster.storedAt)})` : '';
  return `Clip from ${cameraLabel(clip.camera)}, ${times.dayAndTime(clip.storedAt)} ${times.zone}${picture}`;
}

function imageCount(n: number): string {
  return n === 1 ? '1 image' : `${n.toLocaleString('en')} images`;
}

/**
 * How images and clips are counted wherever both are: the images (also when there are none), the
 * clips when there are any, but the clips alone when there is no image (`2 clips`, not `0 images, 2 clips`).
 */
function counted(images: number, clips: number): Array<{ count: string; noun: string }> {
  const part = (n: number, noun: string): { count: string; noun: string } => ({ count: n.toLocaleString('en'), noun: n === 1 ? noun : `${noun}s` });
  if (clips === 0) return [part(images, 'image')];
  return images === 0 ? [part(clips, 'clip')] : [part(images, 'image'), part(clips, 'clip')];
}

/** What a day holds: `14 images`, `12 images, 2 clips`, `2 clips`. */
export function itemCount(items: readonly CatalogItem[]): string {
  const clips = items.filter((item) => item.kind === 'clip').length;
  return counted(items.length - clips, clips)
    .map(({ count, noun }) => `${count} ${noun}`)
    .join(', ');
}

/** A clip's length as players show it: `0:07`, `1:05`, `1:02:03` */
export function formatClipDuration(ms: number): string {
  const total = Math.max(1, Math.round(ms / 1000));
  const [hours, minutes, seconds] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const two = (n: number): string => String(n).padStart(2, '0');
  return hours > 0 ? `${hours}:${two(minutes)}:${two(seconds)}` : `${minutes}:${two(seconds)}`;
}

/** `45 s`, `3 min`, `2 h`, `5 days` (with a no-break space, so they never wrap apart) */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${Math.max(1, seconds)}\u00a0s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes}\u00a0min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}\u00a0h`;
  return `${Math.round(hours / 24)}\u00a0days`;
}

function formatAgo(ms: number): string {
  return ms < 5_000 ? 'just\u00a0now' : `${formatDuration(ms)} ago`;
}
