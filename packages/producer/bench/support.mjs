// Process, port and /proc helpers for the producer benchmark.
import { Buffer } from 'node:buffer';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { setTimeout } from 'node:timers';
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

let ticksPerSecond;

function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) a process has used so far; undefined if it cannot be read. */
export function cpuSeconds(pid) {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return undefined;
  }
}

/** Resident and peak resident memory of a process, in MB. */
export function memoryMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return { rss: Number.NaN, peak: Number.NaN };
  }
}

/** Inodes of the sockets listening on TCP `port` (IPv4 and IPv6), from /proc/net. */
function listeningInodes(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl local_address rem_address st ... inode (index 9); st 0A is LISTEN.
      if (cols.length > 9 && cols[1].endsWith(`:${hexPort}`) && cols[3] === '0A') inodes.add(`socket:[${cols[9]}]`);
    }
  }
  return inodes;
}

/**
 * PID of the process listening on `port` (the broker the bench publishes to), found read-only in
 * /proc, to report the broker's CPU. Other brokers on the machine (test nodes) are not confused
 * with it. Undefined if it cannot be seen (for example a remote broker).
 */
export function findListenerPid(port) {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds;
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry);
      } catch {
        // Closed while we looked.
      }
    }
  }
  return undefined;
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpuSeconds() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const [user, nice, system, idle, iowait, irq, softirq, steal] = fields;
    const busy = user + nice + system + irq + softirq + steal;
    const ticks = clockTicks();
    return { busy: busy / ticks, iowait: iowait / ticks, total: (busy + idle + iowait) / ticks };
  } catch {
    return undefined;
  }
}

/**
 * Runs a bench's `main`, then always `cleanUp` (unless a signal already did, which also exits 130);
 * a failure or an incomplete clean-up sets exit code 1. With a report, `finish(report)` prints and
 * saves it and returns false if the figures show a fault (lost or duplicated emails...), which
 * also sets exit code 1. Missed targets are not faults.
 */
export async function runBench({ main, cleanUp, finish }) {
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      interrupted = true;
      console.error(`\n${signal}: stopping the servers and removing the bench topology`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  let report;
  let failure;
  try {
    report = await main();
  } catch (error) {
    failure = error;
  } finally {
    if (!interrupted) {
      const cleaned = await cleanUp().catch((error) => {
        console.error(`clean-up failed: ${error.message}`);
        return false;
      });
      if (!cleaned) process.exitCode = 1;
    }
  }
  if (failure !== undefined) {
    console.error(`bench failed: ${failure.stack ?? failure.message}`);
    process.exitCode = 1;
  } else if (report !== undefined && !finish(report)) {
    process.exitCode = 1;
  }
}
