// Where a process's CPU went, from V8 `.cpuprofile` files (node --cpu-prof):
//   node packages/bench/tools/cpu-profile-summary.mjs <file.cpuprofile>...
// Prints, for the busy samples (not idle): the share by owner, where each sample belongs to the
// nearest frame on its stack that is project or package code (node_modules/<pkg>, packages/<pkg>),
// so Node's own http or net code counts against whoever called it (`(node internals)` when nothing
// did, as for a socket read started by the event loop); then the functions with the most self time
// (Node's own ones with the owner they count against).
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0 || files.includes('--help')) {
  process.stdout.write('usage: node cpu-profile-summary.mjs <file.cpuprofile>...\n');
  process.exit(files.length === 0 ? 2 : 0);
}

const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

/** Owner of a frame: a package (from its node_modules path), a project file, or undefined for Node's own code. */
function ownerOf({ url, functionName }) {
  if (SPECIAL.has(functionName) && url === '') return functionName;
  if (url === '' || url.startsWith('node:')) return undefined;
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1];
  const own = /packages\/([^/]+)\/dist\/(.+)\.js$/.exec(url);
  if (own) return `${own[1]}: ${own[2]}`;
  return url.replace(/^file:\/\//, '');
}

const selfTime = new Map();
const ownerTime = new Map();
let busy = 0;
let total = 0;
const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  // Owner of each node: its own, else its nearest owned ancestor's.
  const owners = new Map();
  const ownerOfNode = (id) => {
    if (owners.has(id)) return owners.get(id);
    const node = nodes.get(id);
    const own = ownerOf(node.callFrame);
    const up = parent.get(id);
    const result = own ?? (up === undefined ? '(node internals)' : ownerOfNode(up));
    owners.set(id, result === '(root)' ? '(node internals)' : result);
    return owners.get(id);
  };
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i += 1) {
    // timeDeltas[i] is the time before sample i; the sample stands for the time until the next.
    const us = timeDeltas[i + 1] ?? 0;
    total += us;
    const node = nodes.get(samples[i]);
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busy += us;
    const owner = ownerOfNode(node.id);
    add(ownerTime, owner, us);
    const where =
      url === ''
        ? ''
        : ` ${url.replace(/^.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, '').replace(/^file:\/\/.*\/packages\//, '')}:${lineNumber + 1}`;
    const under = ownerOf(node.callFrame) === undefined && owner !== '(node internals)' ? `  [under ${owner}]` : '';
    add(selfTime, `${functionName || '(anonymous)'}${where}${under}`, us);
  }
}

const share = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)} %`;
const top = (map, n) => [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log(
  `\n${files.length} profile(s): ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (shares below are of busy time)`,
);
console.log('\nby owner (nearest package or project frame on the stack)');
for (const [owner, us] of top(ownerTime, 20)) console.log(`  ${share(us)}  ${owner}`);
console.log('\nself time, top functions');
for (const [name, us] of top(selfTime, 30)) console.log(`  ${share(us)}  ${name}`);
