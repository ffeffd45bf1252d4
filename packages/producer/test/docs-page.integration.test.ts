import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { openApiDocument } from '../src/http/openapi';
import { startTestProducer, type TestProducer } from './support/producer';

/** Debian's package; `.ci/run` installs it. Playwright never downloads a browser here. */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.join(__dirname, '..', '..', '..', 'artifacts', 'api-docs.png');

/** Every operation's summary, straight from the document, so a new operation is checked too. */
const summaries = Object.values(openApiDocument.paths).flatMap((item) =>
  Object.values(item as Record<string, { summary?: string }>).flatMap((op) =>
    op.summary === undefined ? [] : [op.summary],
  ),
);

describe('GET /docs in headless Chromium', () => {
  let producer: TestProducer;
  let server: Server;
  let origin: string;
  let browser: BrowserContext | undefined;
  let profile: string;

  beforeAll(async () => {
    producer = await startTestProducer('docs');
    server = producer.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(path.join(os.tmpdir(), 'mailer-docs-chromium-'));
  });

  afterAll(async () => {
    await browser?.close();
    server.close();
    await producer.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('renders every operation from the producer alone, with no console error, and is screenshotted', async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does`);
    }
    // A fresh profile per run (Playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage();
    const requests: string[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));

    const response = await page.goto(`${origin}/docs`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

    // Swagger UI renders one summary block per operation once it has fetched and parsed the document.
    const operations = page.locator('.opblock-summary');
    await operations.first().waitFor();
    const rendered = (await operations.allTextContents()).map((text) => text.replace(/\s+/g, ' '));
    expect(rendered.some((text) => /POST\s?\/v1\/emails(?!\/)/.test(text))).toBe(true);
    expect(rendered.some((text) => /GET\s?\/v1\/emails\/\{id\}/.test(text))).toBe(true);
    const body = await page.locator('#swagger-ui').innerText();
    for (const summary of summaries) expect(body).toContain(summary);
    expect(body).toContain(openApiDocument.info.title);

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    expect(requests.length).toBeGreaterThan(3);
    expect(requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
