// Child processes of the benches (started, watched and stopped by PID), free ports and small HTTP calls.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { closeSync, createWriteStream, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';

/** A port the kernel says is free now (closed again before returning, so a child can bind it). */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** GET `http://127.0.0.1:<port><path>`; resolves with the status code, rejects on a socket error. */
export function httpStatus(port, path, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** POST a JSON body; resolves with `{ status, body }`. */
export function httpPostJson(port, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        timeout: 10_000,
        headers: { 'content-type': 'application/json', 'content-length': payload.length, ...headers },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** GET `http://127.0.0.1:<port><path>`; resolves with the status and the body as text. */
export function httpGetText(port, path, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Starts `node <args>` with stdout and stderr going to `logFile`. The handle keeps the PID; `exited`
 * resolves with the exit code or signal once the child is gone.
 */
export function startNode(name, args, env, logFile) {
  const fd = openSync(logFile, 'w');
  let child;
  try {
    child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  return trackExit({ name, child, pid: child.pid, logFile });
}

/**
 * Adds `exitedWith` (undefined while running) and `exited` (resolves with the exit code, signal or
 * spawn error) to a child process handle; returns the handle.
 */
export function trackExit(handle) {
  handle.exitedWith = undefined;
  handle.exited = new Promise((resolve) => {
    handle.child.once('exit', (code, signal) => {
      handle.exitedWith = signal ?? code;
      resolve(handle.exitedWith);
    });
    handle.child.once('error', (error) => {
      handle.exitedWith = error.message;
      resolve(handle.exitedWith);
    });
  });
  return handle;
}

/** Last lines of a log file, for error messages. */
export function logTail(file, lines = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `GET /readyz` until it answers 200, racing the child's exit: a child that dies while
 * starting fails at once with the tail of its log instead of waiting out the deadline.
 */
export async function waitReady(handle, port, timeoutMs = 30_000) {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let died = false;
  void handle.exited.then(() => {
    died = true;
  });
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (died) {
      throw new Error(`${handle.name} exited (${handle.exitedWith}) before it was ready:\n${logTail(handle.logFile)}`);
    }
    try {
      const status = await httpStatus(port, '/readyz', 500);
      if (status === 200) return Date.now() - started;
      last = `HTTP ${status}`;
    } catch (error) {
      last = error.code ?? error.message;
    }
    await Promise.race([sleep(50), handle.exited]);
  }
  throw new Error(
    `${handle.name} not ready after ${timeoutMs} ms (last /readyz: ${last}):\n${logTail(handle.logFile)}`,
  );
}

/** SIGTERM by PID, then SIGKILL by PID if it has not exited within `graceMs`. */
export async function stopNode(handle, graceMs = 5000) {
  if (handle.exitedWith !== undefined) return handle.exitedWith;
  try {
    process.kill(handle.pid, 'SIGTERM');
  } catch {
    return handle.exited;
  }
  const timer = new Promise((resolve) => {
    const t = setTimeout(resolve, graceMs, 'timeout');
    t.unref();
  });
  if ((await Promise.race([handle.exited, timer])) === 'timeout' && handle.exitedWith === undefined) {
    try {
      process.kill(handle.pid, 'SIGKILL');
    } catch {
      // Gone in the meantime.
    }
  }
  return handle.exited;
}

/** Stops every handle in `handles` by PID (emptying the array) and logs how each ended. */
export async function stopAll(handles) {
  const stopped = await Promise.all(handles.splice(0).map(async (h) => [h.name, h.pid, await stopNode(h)]));
  for (const [name, pid, how] of stopped) console.log(`stopped ${name} (pid ${pid}): ${how}`);
}

/**
 * Starts `node <args>` with stdout and stderr piped: both are copied to `logFile`, and every
 * stdout line is emitted as `'line'` (text, parsed JSON or undefined) on `handle.lines`.
 */
export function startNodeWatched(name, args, env, logFile) {
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = new EventEmitter();
  lines.setMaxListeners(0);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const reader = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  let watching = true;
  reader.on('line', (text) => {
    if (!watching) return;
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    lines.emit('line', text, json);
  });
  const handle = trackExit({ name, child, pid: child.pid, logFile, lines });
  // Stops parsing stdout lines (the log file still gets them): a busy child's lines cost the bench
  // CPU. Closing the reader would pause stdout, and with it the copy to the log file.
  handle.stopWatching = () => {
    watching = false;
  };
  // Close the log once both pipes are drained (after the child exits).
  let open = 2;
  const done = () => {
    open -= 1;
    if (open === 0) log.end();
  };
  child.stdout.once('close', done);
  child.stderr.once('close', done);
  return handle;
}

/**
 * Resolves with the first stdout line whose JSON `matches`; rejects if the child exits first or
 * after `timeoutMs`.
 */
export function waitForLine(handle, matches, { timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      handle.lines.off('line', onLine);
      fn(value);
    };
    const onLine = (text, json) => {
      if (json !== undefined && matches(json)) finish(resolve, { via: 'log', line: text });
    };
    const timer = setTimeout(
      () => finish(reject, new Error(`${handle.name}: no matching log line within ${timeoutMs} ms`)),
      timeoutMs,
    );
    handle.lines.on('line', onLine);
    void handle.exited.then((how) => finish(reject, new Error(`${handle.name} exited (${how}) before it was ready`)));
  });
}
