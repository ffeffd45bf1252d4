import express from 'express';
import request from 'supertest';
import { assetBase, contentSecurityPolicy, docsPage, docsRoutes } from './docs';

const app = express().use(docsRoutes());

describe('docs routes', () => {
  it('when /docs is asked for, then it is HTML under a policy that allows only the producer', async () => {
    const response = await request(app).get('/docs').expect(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.headers['content-security-policy']).toBe(contentSecurityPolicy);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(contentSecurityPolicy).not.toMatch(/unsafe|https?:|\*/);
  });

  it('when the page names an asset, then it is a path on the producer, not another host', () => {
    const sources = [...docsPage.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(sources.length).toBe(4);
    for (const source of sources) expect(source).toMatch(/^\/docs\//);
  });

  it.each([
    ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
    ['swagger-ui.css', 'text/css; charset=utf-8'],
    ['favicon-32x32.png', 'image/png'],
  ])('when the versioned asset %s is asked for, then it is served as %s and cached forever', async (file, type) => {
    const response = await request(app).get(`${assetBase}/${file}`).expect(200);
    expect(response.headers['content-type']).toBe(type);
    expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(Number(response.headers['content-length'])).toBeGreaterThan(0);
  });

  it('when the start-up script is asked for, then it is JavaScript revalidated every time', async () => {
    const response = await request(app).get('/docs/init.js').expect(200);
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.text).toContain("url: '/openapi.json'");
  });

  it.each(['package.json', 'swagger-ui-bundle.js.map', '..%2Fpackage.json', 'index.html'])(
    'when a file off the allow-list (%s) is asked for, then it is not served',
    async (file) => {
      await request(app).get(`${assetBase}/${file}`).expect(404);
    },
  );
});
