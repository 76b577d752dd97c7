/**
 * What the gallery's browser tests share: pages in Debian's Chromium that report every script
 * error and CSP violation, logging in, screenshots into `test-artifacts/`, and waiting for what a
 * page shows.
 *
 * Code run in the page is written as strings (the project's TypeScript has no DOM types), and
 * evaluated through the DevTools protocol: the pages' CSP forbids the eval that
 * page.waitForFunction would use, and the tests keep that CSP in force.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import type { RunningGallery } from './helpers.js';

export const DESKTOP = { viewport: { width: 1280, height: 860 } };
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** Chromium on a running gallery. */
export class GalleryBrowser {
  /** Script errors and CSP violations seen on any page: a test ends with none. */
  readonly problems: string[] = [];
  readonly base: string;

  private constructor(
    readonly browser: Browser,
    readonly gallery: RunningGallery,
  ) {
    this.base = gallery.url.replace(/\/$/, '');
  }

  static async launch(gallery: RunningGallery): Promise<GalleryBrowser> {
    await mkdir(ARTIFACTS, { recursive: true });
    return new GalleryBrowser(await launchChromium(), gallery);
  }

  close(): Promise<void> {
    return this.browser.close();
  }

  async newPage(options: BrowserContextOptions = DESKTOP): Promise<{ context: BrowserContext; page: Page }> {
    const context = await this.browser.newContext(options);
    // CSP violations are reported by the page as events, which this relays to the test.
    await context.exposeFunction('reportViolation', (text: string) => this.problems.push(text));
    await context.addInitScript(
      "document.addEventListener('securitypolicyviolation', (event) => window.reportViolation(`${location.pathname}: ${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`))",
    );
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (error) => this.problems.push(`${page.url()}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) this.problems.push(`${page.url()}: ${message.text()}`);
    });
    return { context, page };
  }

  async logIn(page: Page): Promise<void> {
    await page.goto(`${this.base}/gallery`);
    await page.getByLabel('Gallery password').fill(this.gallery.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${this.base}/gallery`);
  }

  /** Opens `url` on a phone with the session of `desktop`, waits for the images of `images`, and saves a screenshot. */
  async screenshotOnPhone(desktop: BrowserContext, url: string, images: string, name: string): Promise<void> {
    const phone = await this.newPage(PHONE);
    await phone.context.addCookies(await desktop.cookies());
    await phone.page.goto(url);
    await imagesLoaded(phone.page, images);
    await screenshot(phone.page, name);
    await phone.context.close();
  }
}

/** Saves `test-artifacts/gallery-<name>.png`, the whole page. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `gallery-${name}.png`), fullPage: true });
}

/** The value of a page expression. */
export function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

/** Waits until a page expression is true. */
export async function waitUntil(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await inPage<boolean>(page, expression))) {
    if (Date.now() > deadline) throw new Error(`Waited ${timeoutMs} ms for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until every image `selector` finds has loaded as a real picture (none broken). */
export function imagesLoaded(page: Page, selector: string): Promise<void> {
  return waitUntil(page, `[...document.querySelectorAll(${JSON.stringify(selector)})].every((image) => image.complete && image.naturalWidth > 0)`);
}
