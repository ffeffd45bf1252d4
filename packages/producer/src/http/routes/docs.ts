import { createRequire } from 'node:module';
import path from 'node:path';
import { Router, type Response } from 'express';
import { openApiDocument } from '../openapi';

/*
 * `GET /docs` renders the OpenAPI document with Swagger UI (swagger-ui-dist; docs/api.md says why).
 * Every asset comes from the package in node_modules, so the page works with no network at all.
 * Public like the document itself: mounted before authentication, and not an email endpoint.
 */

const requireFromHere = createRequire(__filename);
const swaggerUiDir = path.dirname(requireFromHere.resolve('swagger-ui-dist/package.json'));
const swaggerUiVersion = (requireFromHere('swagger-ui-dist/package.json') as { version: string }).version;

/** Vendor assets live under the package version, so a new version is a new URL: cached forever. */
export const assetBase = `/docs/assets/swagger-ui-${swaggerUiVersion}`;

/** The only files served from the package (an allow-list: no path from the URL reaches the disk). */
const vendorAssets: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/**
 * Only 'self', except images from `data:` (swagger-ui.css draws its icons as data: SVGs). No
 * 'unsafe-inline' anywhere: the start-up script is a file of its own, and Swagger UI sets styles
 * through the DOM, which style-src does not govern.
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const immutable = 'public, max-age=31536000, immutable';

/** The page; it changes with this code, not with the package, so it is revalidated every time. */
export const docsPage = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Mailer API</title>
    <link rel="icon" type="image/png" href="${assetBase}/favicon-32x32.png" />
    <link rel="stylesheet" href="${assetBase}/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${assetBase}/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

/** Starts Swagger UI on the document; `validatorUrl: null` stops it asking validator.swagger.io. */
export const initScript = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
});
`;

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
}

/** `GET /openapi.json`, the API's OpenAPI document, and `GET /docs`, the page rendering it. */
export function docsRoutes(): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  router.get('/docs', (_req, res) => {
    securityHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/html; charset=utf-8').send(docsPage);
  });
  router.get('/docs/init.js', (_req, res) => {
    securityHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/javascript; charset=utf-8').send(initScript);
  });
  router.get(`${assetBase}/:file`, (req, res, next) => {
    const file = req.params.file;
    const contentType = Object.hasOwn(vendorAssets, file) ? vendorAssets[file] : undefined;
    if (contentType === undefined) {
      next();
      return;
    }
    securityHeaders(res);
    res.sendFile(file, {
      root: swaggerUiDir,
      headers: { 'Content-Type': contentType, 'Cache-Control': immutable },
      cacheControl: false,
      lastModified: false,
    });
  });
  return router;
}
