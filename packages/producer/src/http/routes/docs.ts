import { Router } from 'express';
import { openApiDocument } from '../openapi';

/** `GET /openapi.json`: the API's OpenAPI document. */
export function docsRoutes(): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  return router;
}
