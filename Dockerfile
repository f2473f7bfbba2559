# syntax=docker/dockerfile:1
# The Strata broker image: `strata broker` (node --initial-old-space-size=128 dist/core/cli/main.js broker), configured by Kafka-named
# STRATA_* environment variables (STRATA_NODE_ID, STRATA_LISTENERS, ...) or flags after the image name:
#   docker run -p 9092:9092 strata --listeners PLAINTEXT://0.0.0.0:9092 --advertised-listeners PLAINTEXT://localhost:9092
# The CDK app (infra/) builds it at `cdk deploy`; docs/deploy.md. .dockerignore admits only what the build needs.
ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: all dependencies, native addons, tsc ----------------------------------------------
FROM ${NODE_IMAGE} AS build
# node-gyp's tools, for native packages without a prebuilt binary and for native/sendfile.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# npm ci runs the package's install script (scripts/build-native.mjs: the sendfile(2) addon).
COPY package.json package-lock.json ./
COPY scripts/build-native.mjs scripts/
COPY native/sendfile/binding.gyp native/sendfile/sendfile.c native/sendfile/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY core/ core/
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund \
 && mkdir -p native/sendfile/build/Release

# --- runtime: production dependencies, the compiled broker, the addon; non-root ---------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/core/ dist/core/
COPY --from=build /app/native/sendfile/build/Release/ native/sendfile/build/Release/
# The data directory (hot segments only; tiered segments live in the object store).
ENV STRATA_LOG_DIRS=/var/lib/strata
RUN mkdir -p /var/lib/strata && chown node:node /var/lib/strata
USER node
# Kafka (client listener), Kafka (inter-broker listener), metrics (metrics.listener).
EXPOSE 9092 9094 9644
# The broker's node flags: core/broker/nodeFlags.ts (test/infra/dockerfile.test.ts keeps them equal).
ENTRYPOINT ["node", "--initial-old-space-size=128", "dist/core/cli/main.js", "broker"]
