// Child processes for the consumer benchmark whose output the bench reads as it comes (the
// producer bench's startNode sends it straight to a file). The handle has the same shape as
// startNode's (trackExit), so the producer bench's stopNode stops it (by PID).
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { trackExit } from '../../producer/bench/support.mjs';
import { clearTimeout, setTimeout } from 'node:timers';

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

/**
 * Resets the peak resident memory (VmHWM) of a process by writing 5 to /proc/<pid>/clear_refs.
 * Returns false if the kernel refused (then VmHWM stays the peak since start).
 */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
