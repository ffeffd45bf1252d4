import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './process';
import { until } from './until';

const run = promisify(execFile);

/**
 * Debian's wrappers in /usr/sbin switch to the rabbitmq user through `su`, which resets HOME and
 * so the Erlang cookie to the machine node's. The scripts behind them run as the caller and keep
 * the environment: the private nodes get a cookie of their own and never meet the machine's node.
 */
const bin = (tool: string): string => `/usr/lib/rabbitmq/bin/${tool}`;

/** One node of a private cluster. */
export interface PrivateRabbitNode {
  /** Erlang node name, `name@localhost`. */
  readonly name: string;
  /** Its AMQP port on 127.0.0.1. */
  readonly port: number;
  /** `amqp://guest:guest@127.0.0.1:<port>` (guest logs in from loopback). */
  readonly url: string;
  /** Whether this test has stopped it. */
  readonly stopped: boolean;
}

/** Where a queue's replicas are, as `rabbitmqctl list_queues` reports them. */
export interface QueueReplicas {
  readonly leader: string;
  readonly members: readonly string[];
  readonly online: readonly string[];
}

/** A RabbitMQ cluster of the test's own: its own node names, ports, folders and cookie. */
export interface PrivateRabbitCluster {
  readonly nodes: readonly PrivateRabbitNode[];
  /** Every node's URL, comma-separated, as `AMQP_URL` takes them. */
  readonly url: string;
  /** `rabbitmqctl` against one of the nodes (a running one unless `node` is given). */
  ctl(args: readonly string[], node?: PrivateRabbitNode): Promise<string>;
  /** The node holding the leader of a quorum queue, asked of a running node. */
  leaderOf(queue: string): Promise<PrivateRabbitNode | undefined>;
  /**
   * Every queue's leader, members and online members (node names), asked of a running node;
   * a classic queue has no members.
   */
  queues(): Promise<Map<string, QueueReplicas>>;
  /** `rabbitmq-queues quorum_status <queue>` as a running node prints it (raft state per member). */
  quorumStatus(queue: string): Promise<string>;
  /** Stops one node cleanly (`rabbitmqctl -n <node> stop`). */
  stop(node: PrivateRabbitNode): Promise<void>;
  /** Stops every node still running (by name, then by pid) and removes the folder. */
  remove(): Promise<void>;
}

/**
 * Starts `size` private nodes and joins them into one cluster. Each node has its own ports
 * (AMQP and Erlang distribution), data, log, config and plugin files in a temporary folder; the
 * machine's own node (rabbit@<host> on 5672) is never addressed.
 */
export async function startPrivateRabbitCluster(size = 3): Promise<PrivateRabbitCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'mailer-rabbit-'));
  const label = randomBytes(3).toString('hex');
  const env = {
    ...process.env,
    HOME: dir,
    // Read by rabbitmqctl and the server alike; a cookie nothing else on the machine has.
    RABBITMQ_ERLANG_COOKIE: randomBytes(16).toString('hex'),
  };
  writeFileSync(join(dir, '.erlang.cookie'), env.RABBITMQ_ERLANG_COOKIE, { mode: 0o400 });

  const nodes: (PrivateRabbitNode & { stopped: boolean; child?: ChildProcess })[] = [];
  for (let i = 1; i <= size; i += 1) {
    const port = await freePort();
    nodes.push({
      name: `mailer${label}n${i}@localhost`,
      port,
      url: `amqp://guest:guest@127.0.0.1:${port}`,
      stopped: false,
    });
  }
  const distPorts = await Promise.all(nodes.map(() => freePort()));

  const tool = async (name: string, args: readonly string[], node = nodes.find((n) => !n.stopped)): Promise<string> => {
    if (node === undefined) throw new Error('no private node is running');
    const { stdout } = await run(bin(name), ['-q', '-n', node.name, ...args], { env, timeout: 120_000 });
    return stdout;
  };
  const ctl = (args: readonly string[], node?: PrivateRabbitNode): Promise<string> =>
    tool('rabbitmqctl', args, node ?? nodes.find((n) => !n.stopped));

  nodes.forEach((node, i) => {
    const home = join(dir, `n${i + 1}`);
    mkdirSync(join(home, 'log'), { recursive: true });
    writeFileSync(join(home, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${node.port}\n`);
    writeFileSync(join(home, 'enabled_plugins'), '[].\n');
    node.child = spawn(bin('rabbitmq-server'), [], {
      env: {
        ...env,
        RABBITMQ_NODENAME: node.name,
        RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
        RABBITMQ_NODE_PORT: String(node.port),
        RABBITMQ_DIST_PORT: String(distPorts[i]),
        RABBITMQ_MNESIA_BASE: join(home, 'mnesia'),
        RABBITMQ_LOG_BASE: join(home, 'log'),
        RABBITMQ_CONFIG_FILE: join(home, 'rabbitmq.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(home, 'enabled_plugins'),
      },
      stdio: 'ignore',
    });
  });

  const cluster: PrivateRabbitCluster = {
    nodes,
    url: nodes.map((node) => node.url).join(','),
    ctl,
    async leaderOf(queue) {
      const out = await ctl(['list_queues', 'name', 'leader', '--no-table-headers']);
      const line = out.split('\n').find((row) => row.split('\t')[0] === queue);
      const leader = line?.split('\t')[1]?.trim();
      return nodes.find((node) => node.name === leader);
    },
    async queues() {
      const out = await ctl(['list_queues', 'name', 'leader', 'members', 'online', '--no-table-headers']);
      // Members are printed as an Erlang list of node names: pick this cluster's names out of it.
      const named = (field = '') => nodes.filter((node) => field.includes(node.name)).map((node) => node.name);
      const result = new Map<string, QueueReplicas>();
      for (const row of out.split('\n').filter((line) => line.trim() !== '')) {
        const [name = '', leader = '', members, online] = row.split('\t');
        result.set(name, { leader: leader.trim(), members: named(members), online: named(online) });
      }
      return result;
    },
    quorumStatus(queue) {
      return tool('rabbitmq-queues', ['quorum_status', queue]);
    },
    async stop(node) {
      const own = nodes.find((n) => n.name === node.name);
      if (own === undefined) throw new Error(`${node.name} is not a node of this cluster`);
      await ctl(['stop'], own);
      own.stopped = true;
    },
    async remove() {
      for (const node of nodes) {
        if (!node.stopped) await ctl(['stop'], node).catch(() => undefined);
        node.stopped = true;
        const pid = node.child?.pid;
        if (pid !== undefined && node.child?.exitCode === null) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    // await_startup fails at once while the node is not yet registered with epmd: ask again.
    for (const node of nodes)
      await until(
        () =>
          ctl(['await_startup', '--timeout', '120'], node).then(
            () => true,
            () => false,
          ),
        `${node.name} started`,
        180_000,
      );
    const [first, ...others] = nodes;
    for (const node of others) {
      await ctl(['stop_app'], node);
      await ctl(['join_cluster', (first as PrivateRabbitNode).name], node);
      await ctl(['start_app'], node);
    }
    for (const node of nodes) await ctl(['await_startup', '--timeout', '120'], node);
    // A quorum queue gets as members the cluster's nodes when it is declared: the cluster must
    // be whole, as every node sees it, before anything declares one.
    for (const node of nodes) {
      const status = JSON.parse(await ctl(['cluster_status', '--formatter', 'json'], node)) as {
        running_nodes?: string[];
      };
      const running = status.running_nodes ?? [];
      if (!nodes.every((n) => running.includes(n.name)))
        throw new Error(`${node.name} sees running nodes ${running.join(', ')}, not the ${size} of the cluster`);
    }
  } catch (error) {
    await cluster.remove();
    throw error;
  }
  return cluster;
}
