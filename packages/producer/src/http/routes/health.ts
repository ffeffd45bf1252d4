import { Router } from 'express';
import type { Readiness } from '@mailer/contract';

/** `GET /healthz` (the process answers) and `GET /readyz` (it can accept email now). */
export function healthRoutes(readiness: () => Readiness): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    const state = readiness();
    res.status(state.ready ? 200 : 503).json({
      status: state.ready ? 'ready' : 'not-ready',
      ...(state.reason === undefined ? {} : { reason: state.reason }),
    });
  });
  return router;
}
