/**
 * The gallery's pages, rendered on the server as plain HTML (no inline script or style, so the
 * strict Content-Security-Policy holds); `assets/gallery/gallery.js` adds live updates, the
 * time-lapse player and keyboard shortcuts on top.
 *
 * @module
 */
import { formatBytes } from '../core/byte-size.js';
import type { CameraSummary, CatalogImage } from './catalog.js';
import { html, joinHtml } from './html.js';
import type { Html } from './html.js';
import { ALL_IMAGES } from './layout.js';
import type { Day } from './layout.js';
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

function cameraCard(urls: GalleryUrls, times: Times, summary: CameraSummary, now: Date): Html {
  const { camera, latest } = summary;
  const name = cameraLabel(camera);
  // Changes whenever anything shown changes, so live updates replace only cards that changed.
  const version = [latest?.key ?? '', summary.today, summary.state, summary.waiting ?? 0].join('|');
  const state = {
    live: { label: 'Live', detail: 'sending as usual' },
    overdue: { label: 'Overdue', detail: `nothing for ${formatDuration(summary.silentMs ?? 0)}` },
    unknown: { label: 'Quiet', detail: 'too few images to know its interval' },
    never: { label: 'No images', detail: 'has not sent anything yet' },
  }[summary.state];
  const alt = latest && `Latest image from ${name}, ${times.dayAndTime(latest.storedAt)} ${times.zone}`;
  const media = latest
    ? html`<img src="${urls.thumbnail(latest.key, 'preview')}" alt="${alt}" width="960" height="540" decoding="async">`
    : html`<div class="no-image" aria-hidden="true">No image yet</div>`;
  const stats = [
    html`<strong>${summary.today.toLocaleString('en')}</strong> today`,
    summary.usualIntervalMs !== undefined && html`usually every ${formatDuration(summary.usualIntervalMs)}`,
    summary.state === 'overdue' && html`<span class="warn">${state.detail}</span>`,
    summary.waiting !== undefined && waitingNote(summary.waiting),
  ];
  return html`<li class="card state-${summary.state}" data-key="${camera}" data-version="${version}">
  <a class="card-link" href="${urls.camera(camera, latest?.day)}">
    <div class="card-media">${media}
      <span class="badge badge-${summary.state}" title="${state.detail}">${state.label}</span>
    </div>
    <div class="card-body">
      <h2>${name}</h2>
      <p class="latest">${latest ? latestTimes(times, latest, now) : state.detail}</p>
      <p class="stats">${joinHtml(stats, ' · ')}</p>
    </div>
  </a>
</li>`;
}

/** When a camera's latest image came: the time, and how long ago (kept current by the script). */
function latestTimes(times: Times, latest: CatalogImage, now: Date): Html {
  const at = latest.storedAt.toISOString();
  const time = html`<time datetime="${at}">${times.timeOn(latest.storedAt, times.dayOf(now))}</time>`;
  const ago = html`<time class="ago" data-relative="${at}" datetime="${at}">${formatAgo(now.getTime() - latest.storedAt.getTime())}</time>`;
  return html`Latest ${time} · ${ago}`;
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
  images: CatalogImage[];
  page: number;
  pageSize: number;
  previousDay?: Day;
  nextDay?: Day;
  recentDays: Day[];
  pollMs: number;
  /** The URL cameras send images to, for the set-up line an empty camera's page shows. */
  recipientUrl: string;
}

export function cameraPage(urls: GalleryUrls, times: Times, model: CameraPageModel): Html {
  const { camera, day, images, page, pageSize } = model;
  const name = cameraLabel(camera);
  const pages = Math.max(1, Math.ceil(images.length / pageSize));
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
${images.length === 0 && emptyCamera(camera, day, model)}
<ol class="thumbs" id="thumbs"${refresh}>
${thumbnailTiles(urls, times, day, images, page, pageSize)}
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

/** How many images the day has, which zone its times are in, and which page this is. */
function dayMeta(times: Times, model: CameraPageModel, pages: number, live: boolean): Html {
  const { day, images, page, pageSize } = model;
  const utc = times.zone === 'UTC';
  return joinHtml(
    [
      html`<span id="image-count">${imageCount(images.length)}</span> on ${formatDay(day)}${utc ? ' (UTC)' : ' (a UTC day)'}`,
      !utc && html`<span class="time-zone">times in ${times.zoneName(new Date(`${day}T12:00:00Z`))}</span>`,
      images.length > pageSize && `page ${page} of ${pages}`,
      'newest first',
      live && html`<span class="live-note">updates by itself</span>`,
    ],
    ' · ',
  );
}

/**
 * Page `page` of a day's thumbnails (`images` oldest first, shown newest first); also the camera
 * view's live-update fragment. Each is labelled with a time that tells it from its neighbours.
 */
export function thumbnailTiles(urls: GalleryUrls, times: Times, day: Day, images: CatalogImage[], page: number, pageSize: number): Html {
  const labels = times.distinctLabels(images, day);
  const tile = (image: CatalogImage): Html => {
    const alt = imageAlt(times, image);
    const thumbnail = html`<img src="${urls.thumbnail(image.key)}" alt="${alt}" width="320" height="180" loading="lazy" decoding="async">`;
    const time = html`<time datetime="${image.storedAt.toISOString()}">${labels.get(image.key)}</time>`;
    return html`<li data-key="${image.key}" data-version="1"><a href="${urls.view(image.key)}">${thumbnail}${time}</a></li>`;
  };
  return html`${newestFirst(images)
    .slice((page - 1) * pageSize, page * pageSize)
    .map(tile)}`;
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

function newestFirst(images: CatalogImage[]): CatalogImage[] {
  return [...images].reverse();
}

function player(urls: GalleryUrls, times: Times, camera: string, day: Day, images: CatalogImage[]): Html {
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
  image?: CatalogImage;
  size: number;
  storedAt: Date;
  contentType: string;
  receivedAt?: Date;
  cameraFilename?: string;
  camera?: string;
  older?: CatalogImage;
  newer?: CatalogImage;
  position?: { index: number; of: number };
}

export function imagePage(urls: GalleryUrls, times: Times, model: ImagePageModel): Html {
  const { key, image } = model;
  const camera = image?.camera ?? model.camera;
  const name = camera === undefined ? undefined : cameraLabel(camera);
  const when = model.receivedAt ?? model.storedAt;
  const filename = key.slice(key.lastIndexOf('/') + 1);
  const alt = image ? imageAlt(times, image) : `${name ?? 'Image'} ${filename}`;
  const zone = times.zoneName(when);
  /** The link to the older or newer image, or a disabled button where there is none. */
  const step = (target: CatalogImage | undefined, rel: 'prev' | 'next', label: string): Html => {
    const text = rel === 'prev' ? `← ${label}` : `${label} →`;
    if (!target) return html`<span class="button disabled" aria-disabled="true">${text}</span>`;
    const title = `${label}: ${times.dayAndTime(target.storedAt)}`;
    return html`<a class="button" rel="${rel}" href="${urls.view(target.key)}" title="${title}">${text}</a>`;
  };
  const shownTime = html`<time datetime="${when.toISOString()}">${times.dayAndTime(when)}</time>`;
  const received = `${formatDay(times.dayOf(when))} ${model.receivedAt ? times.preciseTime(when) : times.time(when)}`;
  const receivedTime = html`<time datetime="${when.toISOString()}">${received}</time>`;
  const cameraFilename = model.cameraFilename
    ? html`<code>${model.cameraFilename}</code>`
    : html`<span class="muted">not kept by this store</span>`;
  return layout({
    urls,
    title: `${name ?? 'Image'} · ${times.time(when)}`,
    page: 'image',
    times,
    crumbs: [
      ...(camera !== undefined ? [{ label: name!, href: urls.camera(camera, image?.day) }] : []),
      { label: image ? `${formatShortDay(times.dayOf(image.storedAt))} ${times.time(image.storedAt)}` : filename },
    ],
    body: html`<div class="image-toolbar">
  ${step(model.older, 'prev', 'Older')}
  <span class="position">${model.position ? `${model.position.index + 1} of ${model.position.of}` : ''}</span>
  ${step(model.newer, 'next', 'Newer')}
</div>
<figure class="full-image">
  <img id="full-image" src="${urls.image(key)}" alt="${alt}">
  <figcaption>${name ?? ''}${name ? ' · ' : ''}${shownTime} <span class="time-zone">${zone}</span></figcaption>
</figure>
<div class="image-details">
  <a class="button primary" href="${urls.image(key, true)}" download="${filename}">Download</a>
  <dl class="facts">
    <dt>Key</dt><dd><code>${key}</code></dd>
    ${name && html`<dt>Camera</dt><dd>${name}</dd>`}
    <dt>Received</dt><dd>${receivedTime} ${zone}</dd>
    <dt>Size</dt><dd>${formatBytes(model.size)} (${model.size.toLocaleString('en')} bytes)</dd>
    <dt>Type</dt><dd>${model.contentType}</dd>
    <dt>Camera filename</dt><dd>${cameraFilename}</dd>
  </dl>
  <p class="hint">Keys <kbd>←</kbd> and <kbd>→</kbd> step to the older and newer image.</p>
</div>`,
  });
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

function imageAlt(times: Times, image: CatalogImage): string {
  return `${cameraLabel(image.camera)}, ${times.dayAndTime(image.storedAt)} ${times.zone}`;
}

function imageCount(n: number): string {
  return n === 1 ? '1 image' : `${n.toLocaleString('en')} images`;
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
