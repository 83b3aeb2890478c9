# syntax=docker/dockerfile:1
# keda-carbon image: TypeScript built with dev dependencies, shipped with production
# dependencies only, on Node 22 LTS, as a numeric non-root user, with nothing written outside
# /tmp and the mounted config and certificate directories (readOnlyRootFilesystem works).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile src/ to dist/ ---------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production node_modules, no dev tooling ---------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script, and none should run at build time
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- dev: `skaffold dev` target; recompiles synced sources and restarts on change ---------
# Writes dist/ inside the container, so it runs with a writable root filesystem (the dev
# overlay relaxes that one setting); never use this target in production.
FROM build AS dev
ENV NODE_ENV=development
RUN chown -R 65532:65532 /app
USER 65532:65532
ENTRYPOINT ["sh", "-c", "npx tsc -p tsconfig.build.json --watch --preserveWatchOutput >&2 & exec node --watch dist/cli/main.js \"$@\"", "keda-carbon"]
CMD ["serve"]

# ---- runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    # npm and other tools resolve caches under HOME; keep any such write in /tmp
    HOME=/tmp
WORKDIR /app
# owned by root and not writable by the runtime user: the code cannot be altered at run time
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# 65532 is the conventional "nonroot" id; numeric so runAsNonRoot can verify it
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
