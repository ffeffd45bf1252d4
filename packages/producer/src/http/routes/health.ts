import { Router } from 'express';
import type { Readiness } from '@mailer/contract';

/**
 * Readiness of several dependencies as one: ready when all are, else not ready with every
 * reason, in the order given (`not connected to the broker; ledger-unavailable`).
 */
export function combineReadiness(states: readonly Readiness[]): Readiness {
  const reasons = states.filter((state) => !state.ready).map((state) => state.reason ?? 'not ready');
  return reasons.length === 0 ? { ready: true } : { ready: false, reason: reasons.join('; ') };
}

/** `GET /healthz` (the process answers) and `GET /readyz` (it can accept email now). */
export function healthRoutes(readiness: () => Readiness | Promise<Readiness>): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const state = await readiness();
    res.status(state.ready ? 200 : 503).json({
      status: state.ready ? 'ready' : 'not-ready',
      ...(state.reason === undefined ? {} : { reason: state.reason }),
    });
  });
  return router;
}
