// Baseline for the producer benchmark: the same Express 5 + express.json + ajv validation, answering
// 202 with a random id, but no authentication, no broker and no request logging. The producer's
// throughput relative to this server is the cost of everything the mailer adds to a plain intake.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import express from 'express';
import contract from '@mailer/contract';

const { validateEmailBatch, validateEmailRequest } = contract;

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
const parseJson = express.json({ limit: 10 * 1024 * 1024, type: 'application/json', strict: true });

app.get('/readyz', (_req, res) => {
  res.json({ status: 'ready' });
});

app.post('/v1/emails', parseJson, (req, res) => {
  const validated = validateEmailRequest(req.body);
  if (!validated.ok) {
    res.status(400).json({ problems: validated.problems });
    return;
  }
  const id = randomUUID();
  res.status(202).location(`/v1/emails/${id}`).json({ id, status: 'queued' });
});

app.post('/v1/emails/batch', parseJson, (req, res) => {
  const validated = validateEmailBatch(req.body);
  if (!validated.ok) {
    res.status(400).json({ problems: validated.problems });
    return;
  }
  res
    .status(202)
    .json({ items: validated.value.map((_email, index) => ({ index, id: randomUUID(), status: 'queued' })) });
});

const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
await once(server, 'listening');
const address = server.address();
process.stdout.write(`${JSON.stringify({ message: 'plain server listening', port: address.port })}\n`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
