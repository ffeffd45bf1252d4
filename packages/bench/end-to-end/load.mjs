// Load generators for the end-to-end benchmark that keep every id the producer answered 202 with and
// when: autocannon cannot, and the time from 202 to send needs both.
import { Buffer } from 'node:buffer';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';

/** POSTs `body` to the producer; resolves with `{ status, json, at }` (`at`: performance.now() of the answer). */
function post(agent, port, path, body, headers) {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        timeout: 30_000,
        headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const at = performance.now();
          let json;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, json, at });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) => resolve({ status: 0, error: error.message, at: performance.now() }));
    req.end(body);
  });
}

/**
 * Open-loop load: single `POST /v1/emails` at `ratePerS` for `durationS`, whatever the answers take
 * (a request is issued on schedule even while earlier ones are pending). Resolves with the ids the
 * producer answered 202 and when (`accepted`: Map id -> ms), the 202 latencies, and the failures.
 */
export async function pacedSingles({ port, body, headers, ratePerS, durationS }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const payload = Buffer.from(body);
  const accepted = new Map();
  const latencies = [];
  const failures = {};
  const pending = new Set();
  const started = performance.now();
  const total = Math.round(ratePerS * durationS);
  let issued = 0;
  const issue = () => {
    const sentAt = performance.now();
    const answer = post(agent, port, '/v1/emails', payload, headers).then((result) => {
      if (result.status === 202 && typeof result.json?.id === 'string') {
        accepted.set(result.json.id, result.at);
        latencies.push(result.at - sentAt);
      } else {
        const key = result.status === 0 ? result.error : String(result.status);
        failures[key] = (failures[key] ?? 0) + 1;
      }
    });
    pending.add(answer);
    void answer.finally(() => pending.delete(answer));
  };
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * ratePerS));
      while (issued < due) {
        issue();
        issued += 1;
      }
      if (issued >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  await Promise.all(pending);
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  return { accepted, latencies, failures, issued, elapsedS };
}

/**
 * Closed-loop burst: `count` emails as batches of `batchBody`'s size, `concurrency` requests at a
 * time, as fast as the producer answers. Every id of a 202 batch is accepted at the batch's answer.
 */
export async function batchBurst({ port, batchBody, batchSize, headers, count, concurrency }) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const payload = Buffer.from(batchBody);
  const accepted = new Map();
  const failures = {};
  const started = performance.now();
  let requests = Math.ceil(count / batchSize);
  const worker = async () => {
    while (requests > 0) {
      requests -= 1;
      const result = await post(agent, port, '/v1/emails/batch', payload, headers);
      const items = Array.isArray(result.json?.items) ? result.json.items : [];
      for (const item of items) if (item.status === 'queued') accepted.set(item.id, result.at);
      if (result.status !== 202) {
        const key = result.status === 0 ? result.error : String(result.status);
        failures[key] = (failures[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { accepted, failures, elapsedS: (performance.now() - started) / 1000 };
}
