# One image recipe for both services. Build from the repository root:
#   docker build --build-arg SERVICE=producer -t mailer-producer .
#   docker build --build-arg SERVICE=consumer -t mailer-consumer .
# or `docker compose build`. Configuration comes from the environment (see docs/configuration.md); the
# producer's API_KEYS has no default and must be set.

ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: install the workspace, compile, and cut a production-only copy of one service -------
FROM ${NODE_IMAGE} AS build-base
# Keep in step with "packageManager" in package.json.
ARG PNPM_VERSION=10.34.9
RUN npm install -g --no-audit --no-fund "pnpm@${PNPM_VERSION}"
WORKDIR /repo

# Manifests first, so the dependency layer is rebuilt only when they change. pnpm's
# --frozen-lockfile needs the manifest of every workspace package (packages/*), so a small stage
# picks all of them out with their paths kept; a package added later needs no change here. That
# stage reruns on any source change, but its output is the same, so the install layer stays cached.
FROM ${NODE_IMAGE} AS manifests
COPY packages /src/packages
RUN cd /src && mkdir /out && find packages -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /out \;

FROM build-base AS build
ARG SERVICE=producer
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY --from=manifests /out/ ./
RUN pnpm install --frozen-lockfile

COPY tsconfig.base.json ./
COPY packages packages
RUN pnpm exec tsc -b "packages/${SERVICE}"

# pnpm 10 deploys only with injected workspace packages; setting it for this one command copies
# the workspace packages the service uses (their dist and package.json) into /out instead of
# linking to the workspace. /out gets production dependencies only, resolved from pnpm-lock.yaml.
RUN pnpm --config.inject-workspace-packages=true deploy --prod --filter "@mailer/${SERVICE}" /out

# --- runtime: Node and the deployed folder, run as the unprivileged "node" user -------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Only what runs: compiled code, production dependencies, the manifest. Owned by root, so the
# process, which runs as "node" (uid 1000, from the base image), cannot change them.
COPY --from=build /out/package.json ./
COPY --from=build /out/node_modules ./node_modules
COPY --from=build /out/dist ./dist
# The consumer's capture provider writes here by default in compose; a new named volume takes
# this folder's owner, so the unprivileged user can write to it.
RUN mkdir -p /capture && chown node:node /capture
USER node
# The producer listens on PORT (3000); its health check asks /healthz. The consumer has no HTTP
# port: compose checks it by its process instead.
EXPOSE 3000
# node is PID 1 and handles SIGTERM itself: the producer lets requests in flight finish, the
# consumer lets sends in flight finish and settles them, both within their shutdown timeout.
# Either image also carries the ledger's migrations: compose's one-shot "migrate" service runs
#   node node_modules/@mailer/ledger/dist/migrate-main.js
CMD ["node", "dist/main.js"]
