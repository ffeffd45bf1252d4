// What the benches read about processes from /proc (read-only): CPU time, memory, who listens on a port.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { URL } from 'node:url';

let ticksPerSecond;

export function clockTicks() {
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

/**
 * PID of the local broker behind `amqpUrl` (the process listening on its port), to report its
 * CPU; undefined for a remote broker or when it cannot be seen.
 */
export function localBrokerPid(amqpUrl) {
  const url = new URL(amqpUrl);
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
    ? findListenerPid(Number(url.port || 5672))
    : undefined;
}
