/**
 * The gallery's pages, rendered on the server as plain HTML (no inline script or style, so the
 * strict Content-Security-Policy holds); `assets/gallery/gallery.js` adds live updates, the
 * time-lapse player and keyboard shortcuts on top.
 *
 * @module
 */
import type { CameraSummary, CatalogImage } from './catalog.js';
import { html } from './html.js';
import type { Html } from './html.js';
import { ALL_IMAGES } from './layout.js';
import type { Day } from './layout.js';
import { formatDay, formatShortDay } from './times.js';
import type { Times } from './times.js';

/** Where the gallery lives, and how its URLs are made. */
export class GalleryUrls {
  constructor(
    readonly base: string,
    private readonly assetVersion: string,
  ) {}

  overview(): string {
    return this.base;
  }
  login(next?: string): string {
    return next === undefined || next === this.base ? `${this.base}/login` : `${this.base}/login?next=${encodeURIComponent(next)}`;
  }
  logout(): string {
    return `${this.base}/logout`;
  }
  asset(name: string): string {
    return `${this.base}/assets/${name}?v=${this.assetVersion}`;
  }
  camera(camera: string, day?: Day, page?: number): string {
    const query = new URLSearchParams();
    if (day !== undefined) query.set('day', day);
    if (page !== undefined && page > 1) query.set('page', String(page));
    const search = query.toString();
    return `${this.base}/cameras/${encodeURIComponent(camera)}${search ? `?${search}` : ''}`;
  }
  view(key: string): string {
    return `${this.base}/view/${encodeKey(key)}`;
  }
  image(key: string, download = false): string {
    return `${this.base}/images/${encodeKey(key)}${download ? '?download=1' : ''}`;
  }
  thumbnail(key: string, size: 'thumb' | 'preview' = 'thumb'): string {
    return `${this.base}/thumbs/${encodeKey(key)}${size === 'thumb' ? '' : '?size=preview'}`;
  }
  cardsFragment(): string {
    return `${this.base}/fragments/cards`;
  }
  dayFragment(camera: string, day: Day): string {
    return `${this.base}/fragments/cameras/${encodeURIComponent(camera)}?day=${day}`;
  }
  dayImages(camera: string, day: Day): string {
    return `${this.base}/api/cameras/${encodeURIComponent(camera)}/days/${day}`;
  }
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

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
<body data-page="${page}" data-base="${urls.base}"${times && html` data-time-zone="${times.zone}"`}>
<a class="skip-link" href="#main">Skip to content</a>
<header class="topbar">
  <a class="brand" href="${urls.overview()}"><img src="${urls.asset('icon.svg')}" alt="" width="24" height="24"><span>images-to-s3</span></a>
  ${crumbs !== undefined &&
  html`<nav class="crumbs" aria-label="Breadcrumb"><ol>
    <li><a href="${urls.overview()}"${crumbs.length === 0 ? html` aria-current="page"` : ''}>Cameras</a></li>
    ${crumbs.map((crumb) => html`<li>${crumb.href ? html`<a href="${crumb.href}">${crumb.label}</a>` : html`<span aria-current="page">${crumb.label}</span>`}</li>`)}
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
  <p class="hint">This is the password <code>images-to-s3 serve</code> printed at its first start (or <code>--gallery-password</code>), not a camera's access token.</p>
</form>`,
  });
}

export function overviewPage(urls: GalleryUrls, times: Times, summaries: CameraSummary[], options: { pollMs: number; now: Date; notice?: string }): Html {
  const count = summaries.length;
  return layout({
    urls,
    title: 'Cameras',
    page: 'overview',
    times,
    crumbs: [],
    body: html`<div class="page-head">
  <h1>Cameras</h1>
  <p class="meta"><span>${count === 1 ? '1 camera' : `${count} cameras`}</span> · <span class="time-zone">times in ${times.zoneName(options.now)}</span> · <span class="live-note" aria-live="polite">updates by itself</span></p>
</div>
${options.notice !== undefined && html`<p class="notice" role="status">${options.notice}</p>`}
${count === 0 && html`<p class="empty">No images yet. Point a camera at this receiver, or try <code>images-to-s3 simulate</code>; its images show up here.</p>`}
<ul class="cards" id="cards" data-refresh-url="${urls.cardsFragment()}" data-poll-ms="${options.pollMs}">
${cameraCards(urls, times, summaries, options.now)}
</ul>`,
  });
}

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
  return html`<li class="card state-${summary.state}" data-key="${camera}" data-version="${version}">
  <a class="card-link" href="${urls.camera(camera, latest?.day)}">
    <div class="card-media">${
      latest
        ? html`<img src="${urls.thumbnail(latest.key, 'preview')}" alt="${`Latest image from ${name}, ${times.dayAndTime(latest.storedAt)} ${times.zone}`}" width="960" height="540" decoding="async">`
        : html`<div class="no-image" aria-hidden="true">No image yet</div>`
    }
      <span class="badge badge-${summary.state}" title="${state.detail}">${state.label}</span>
    </div>
    <div class="card-body">
      <h2>${name}</h2>
      ${
        latest
          ? html`<p class="latest">Latest <time datetime="${latest.storedAt.toISOString()}">${times.timeOn(latest.storedAt, times.dayOf(now))}</time> · <time class="ago" data-relative="${latest.storedAt.toISOString()}" datetime="${latest.storedAt.toISOString()}">${formatAgo(now.getTime() - latest.storedAt.getTime())}</time></p>`
          : html`<p class="latest">${state.detail}</p>`
      }
      <p class="stats"><strong>${summary.today.toLocaleString('en')}</strong> today${summary.usualIntervalMs !== undefined && html` · usually every ${formatDuration(summary.usualIntervalMs)}`}${summary.state === 'overdue' && html` · <span class="warn">${state.detail}</span>`}${summary.waiting !== undefined && html` · <span class="waiting" title="Received and safe on the receiver's disk; moved to the store when it can be reached">${summary.waiting.toLocaleString('en')} waiting to be forwarded</span>`}</p>
    </div>
  </a>
</li>`;
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
    const content = rel === 'prev' ? html`<span aria-hidden="true">←</span> <span class="day-label">${label}</span>` : html`<span class="day-label">${label}</span> <span aria-hidden="true">→</span>`;
    const name = `${rel === 'prev' ? 'Previous' : 'Next'} day with images${target ? `: ${formatDay(target)}` : ''}`;
    return target
      ? html`<a class="button" rel="${rel}" href="${urls.camera(camera, target)}" aria-label="${name}">${content}</a>`
      : html`<span class="button disabled" aria-disabled="true" aria-label="${`No ${name.toLowerCase()}`}">${content}</span>`;
  };
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
${model.recentDays.length > 1 && html`<nav class="day-chips" aria-label="Recent days with images"><ul>${model.recentDays.map((recent) => html`<li><a href="${urls.camera(camera, recent)}"${recent === day ? html` aria-current="date"` : ''}>${recent === model.today ? 'Today' : formatShortDay(recent)}</a></li>`)}</ul></nav>`}
<p class="meta" id="day-meta"><span id="image-count">${imageCount(images.length)}</span> on ${formatDay(day)}${times.zone === 'UTC' ? ' (UTC)' : html` (a UTC day) · <span class="time-zone">times in ${times.zoneName(new Date(`${day}T12:00:00Z`))}</span>`}${images.length > pageSize && html` · page ${page} of ${pages}`} · newest first${live && html` · <span class="live-note">updates by itself</span>`}</p>
${images.length > 0 && player(urls, times, camera, day, images)}
${images.length === 0 && emptyCamera(camera, day, model)}
<ol class="thumbs" id="thumbs"${live && html` data-refresh-url="${urls.dayFragment(camera, day)}" data-poll-ms="${model.pollMs}" data-page-size="${pageSize}"`}>
${thumbnailTiles(urls, times, day, images, page, pageSize)}
</ol>
${pages > 1 && pager(urls, camera, day, page, pages)}`,
  });
}

/**
 * Page `page` of a day's thumbnails (`images` oldest first, shown newest first); also the camera
 * view's live-update fragment. Each is labelled with a time that tells it from its neighbours.
 */
export function thumbnailTiles(urls: GalleryUrls, times: Times, day: Day, images: CatalogImage[], page: number, pageSize: number): Html {
  const labels = times.distinctLabels(images, day);
  return html`${newestFirst(images)
    .slice((page - 1) * pageSize, page * pageSize)
    .map(
      (image) =>
        html`<li data-key="${image.key}" data-version="1"><a href="${urls.view(image.key)}"><img src="${urls.thumbnail(image.key)}" alt="${imageAlt(times, image)}" width="320" height="180" loading="lazy" decoding="async"><time datetime="${image.storedAt.toISOString()}">${labels.get(image.key)}</time></a></li>`,
    )}`;
}

/** What an empty day says: for a camera that never sent anything, how to set it up. */
function emptyCamera(camera: string, day: Day, model: CameraPageModel): Html {
  const name = cameraLabel(camera);
  if (model.recentDays.length > 0 || model.previousDay !== undefined || camera === ALL_IMAGES) {
    return html`<p class="empty">No images from ${name} on ${formatDay(day)}.</p>`;
  }
  const setup = `npx images-to-s3 camera setup --camera <camera address> --user root --recipient ${model.recipientUrl} --name ${camera} --create-token`;
  return html`<div class="empty setup-hint">
  <p>${name} has not sent any image yet. To have an Axis camera send one a minute, run:</p>
  <pre><code>${setup}</code></pre>
  <p>with the camera's address, and its administrator's password in <code>IMAGES_TO_S3_CAMERA_PASSWORD</code>. <code>--create-token</code> gives it a token of its own; with a token you already have, give <code>--token</code> instead. Images show up here as they arrive.</p>
</div>`;
}

function newestFirst(images: CatalogImage[]): CatalogImage[] {
  return [...images].reverse();
}

function player(urls: GalleryUrls, times: Times, camera: string, day: Day, images: CatalogImage[]): Html {
  const first = images[0]!;
  return html`<section class="player" id="player" aria-labelledby="player-title" data-frames-url="${urls.dayImages(camera, day)}">
  <div class="player-head"><h2 id="player-title">Time-lapse</h2><span class="player-hint">${imageCount(images.length)} in order, oldest first</span></div>
  <div class="player-screen"><img id="player-frame" src="${urls.thumbnail(first.key, 'preview')}" alt="${`Time-lapse frame: ${imageAlt(times, first)}`}" width="960" height="540"></div>
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
  const numbers = pageNumbers(page, pages);
  return html`<nav class="pager" aria-label="Pages of this day">
  ${page > 1 ? html`<a class="button" rel="prev" href="${urls.camera(camera, day, page - 1)}">← Newer</a>` : html`<span class="button disabled" aria-disabled="true">← Newer</span>`}
  <ol>${numbers.map((n) =>
    n === undefined
      ? html`<li class="gap" aria-hidden="true">…</li>`
      : html`<li><a href="${urls.camera(camera, day, n)}"${n === page ? html` aria-current="page"` : ''} aria-label="${`Page ${n}`}">${n}</a></li>`,
  )}</ol>
  ${page < pages ? html`<a class="button" rel="next" href="${urls.camera(camera, day, page + 1)}">Older →</a>` : html`<span class="button disabled" aria-disabled="true">Older →</span>`}
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
  const step = (target: CatalogImage | undefined, rel: 'prev' | 'next', label: string): Html =>
    target
      ? html`<a class="button" rel="${rel}" href="${urls.view(target.key)}" title="${`${label}: ${times.dayAndTime(target.storedAt)}`}">${rel === 'prev' ? '← ' : ''}${label}${rel === 'next' ? ' →' : ''}</a>`
      : html`<span class="button disabled" aria-disabled="true">${rel === 'prev' ? '← ' : ''}${label}${rel === 'next' ? ' →' : ''}</span>`;
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
  <figcaption>${name ?? ''}${name ? ' · ' : ''}<time datetime="${when.toISOString()}">${times.dayAndTime(when)}</time> <span class="time-zone">${zone}</span></figcaption>
</figure>
<div class="image-details">
  <a class="button primary" href="${urls.image(key, true)}" download="${filename}">Download</a>
  <dl class="facts">
    <dt>Key</dt><dd><code>${key}</code></dd>
    ${name && html`<dt>Camera</dt><dd>${name}</dd>`}
    <dt>Received</dt><dd><time datetime="${when.toISOString()}">${formatDay(times.dayOf(when))} ${model.receivedAt ? times.preciseTime(when) : times.time(when)}</time> ${zone}</dd>
    <dt>Size</dt><dd>${formatBytes(model.size)} (${model.size.toLocaleString('en')} bytes)</dd>
    <dt>Type</dt><dd>${model.contentType}</dd>
    <dt>Camera filename</dt><dd>${model.cameraFilename ? html`<code>${model.cameraFilename}</code>` : html`<span class="muted">not kept by this store</span>`}</dd>
  </dl>
  <p class="hint">Keys <kbd>←</kbd> and <kbd>→</kbd> step to the older and newer image.</p>
</div>`,
  });
}

export function messagePage(urls: GalleryUrls, options: { title: string; message: string; signedIn: boolean }): Html {
  return layout({
    urls,
    title: options.title,
    page: 'message',
    ...(options.signedIn && { crumbs: [] }),
    body: html`<div class="message-card"><h1>${options.title}</h1><p>${options.message}</p><p><a class="button" href="${urls.overview()}">Back to the cameras</a></p></div>`,
  });
}

/** An SVG shown in place of a thumbnail that cannot be made. */
export const PLACEHOLDER_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240"><rect width="320" height="240" fill="#1f2630"/><text x="160" y="126" fill="#8a96a8" font-family="sans-serif" font-size="16" text-anchor="middle">No preview</text></svg>`;

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

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
