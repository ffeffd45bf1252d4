// A local stand-in for Postmark's `POST /email` for the end-to-end benchmark: answers 200 as Postmark
// does after a fixed latency, or never (hang mode), and records when each X-Mailer-Email-Id arrived.
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';

/** The header the consumer puts the email id in (contract's EMAIL_ID_HEADER). */
export const EMAIL_ID_HEADER = 'X-Mailer-Email-Id';

function sendJson(res, status, body) {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length });
  res.end(payload);
}

function emailIdOf(json) {
  const headers = Array.isArray(json?.Headers) ? json.Headers : [];
  const header = headers.find((h) => typeof h?.Name === 'string' && h.Name.toLowerCase() === 'x-mailer-email-id');
  return typeof header?.Value === 'string' ? header.Value : undefined;
}

/**
 * Starts the fake on 127.0.0.1 (a free port). `mode` is `'ok'` (answer 200 after `latencyMs`) or
 * `'hang'` (read the request, never answer); both can be changed at any time with `configure`.
 *
 * `arrivals` maps each email id to `{ at, count, answered }`: `at` is `performance.now()` when the
 * first request carrying it was read (same clock as the bench's own timings), `count` how many
 * requests carried it (more than 1 is a duplicate send), `answered` whether one got its 200 and
 * `answeredAt` when the first 200 was sent.
 * `events` emits `'arrival'` (id, record) for every request read and `'answered'` (id, record) for
 * the first 200 of an id.
 */
export async function startFakePostmark({ token, latencyMs = 0, mode = 'ok' } = {}) {
  const state = { latencyMs, mode };
  const arrivals = new Map();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const hanging = new Set();
  const stats = {
    requests: 0,
    /** Request body bytes read, to check that the consumer and the baseline send the same request. */
    bodyBytes: 0,
    answered: 0,
    rejected: 0,
    withoutId: 0,
    duplicates: 0,
    inflight: 0,
    maxInflight: 0,
    hangingMax: 0,
  };
  // Time-weighted in-flight requests (read, not yet answered), for the average between two reads.
  let inflightArea = 0;
  let inflightSince = performance.now();
  let windowStart = inflightSince;
  let windowFrom = { requests: 0, bodyBytes: 0, duplicates: 0 };
  const setInflight = (delta) => {
    const now = performance.now();
    inflightArea += stats.inflight * (now - inflightSince);
    inflightSince = now;
    stats.inflight += delta;
    if (stats.inflight > stats.maxInflight) stats.maxInflight = stats.inflight;
  };

  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/email') {
      req.resume();
      sendJson(res, 404, { ErrorCode: 404, Message: `No route for ${req.method} ${req.url}` });
      return;
    }
    if (token !== undefined && req.headers['x-postmark-server-token'] !== token) {
      req.resume();
      stats.rejected += 1;
      sendJson(res, 401, {
        ErrorCode: 10,
        Message: 'The Server Token you provided in the X-Postmark-Server-Token header was invalid.',
      });
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      const bytes = Buffer.concat(chunks);
      stats.requests += 1;
      stats.bodyBytes += bytes.length;
      let json;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        stats.rejected += 1;
        sendJson(res, 422, { ErrorCode: 300, Message: 'Invalid request: body is not JSON.' });
        return;
      }
      const id = emailIdOf(json);
      let record;
      if (id === undefined) {
        stats.withoutId += 1;
      } else {
        record = arrivals.get(id);
        if (record === undefined) {
          record = { at, count: 1, answered: false };
          arrivals.set(id, record);
        } else {
          record.count += 1;
          stats.duplicates += 1;
        }
        events.emit('arrival', id, record);
      }
      setInflight(1);
      if (state.mode === 'hang') {
        hanging.add(res);
        stats.hangingMax = Math.max(stats.hangingMax, hanging.size);
        res.once('close', () => {
          if (hanging.delete(res)) setInflight(-1);
        });
        return;
      }
      const answer = () => {
        setInflight(-1);
        if (res.destroyed) return;
        stats.answered += 1;
        if (record !== undefined && !record.answered) {
          record.answered = true;
          record.answeredAt = performance.now();
          events.emit('answered', id, record);
        }
        sendJson(res, 200, {
          To: typeof json?.To === 'string' ? json.To : '',
          SubmittedAt: new Date().toISOString(),
          MessageID: randomUUID(),
          ErrorCode: 0,
          Message: 'OK',
        });
      };
      if (state.latencyMs > 0) setTimeout(answer, state.latencyMs);
      else answer();
    });
  });
  // Keep the consumer's pooled connections open between bursts (Node closes idle ones after 5 s).
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();

  return {
    port,
    host: `127.0.0.1:${port}`,
    arrivals,
    events,
    stats,
    /** Changes how requests read from now on are answered; hanging ones stay hanging. */
    configure({ mode: nextMode, latencyMs: nextLatency }) {
      if (nextMode !== undefined) state.mode = nextMode;
      if (nextLatency !== undefined) state.latencyMs = nextLatency;
    },
    /** Starts a new window for `readWindow`. */
    startWindow() {
      setInflight(0);
      inflightArea = 0;
      windowStart = inflightSince;
      windowFrom = { requests: stats.requests, bodyBytes: stats.bodyBytes, duplicates: stats.duplicates };
      stats.maxInflight = stats.inflight;
    },
    /**
     * Since `startWindow`: time-weighted average and peak of the requests in flight (read, not
     * answered), requests read, their body bytes, and requests for an id seen before.
     */
    readWindow() {
      setInflight(0);
      const ms = inflightSince - windowStart;
      return {
        averageInflight: ms > 0 ? inflightArea / ms : 0,
        maxInflight: stats.maxInflight,
        ms,
        requests: stats.requests - windowFrom.requests,
        bodyBytes: stats.bodyBytes - windowFrom.bodyBytes,
        duplicates: stats.duplicates - windowFrom.duplicates,
      };
    },
    /** Stops listening and destroys every connection, hanging ones included. */
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}
