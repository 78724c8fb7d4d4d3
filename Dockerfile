# The Node.js line of .node-version (the current LTS), the one CI runs the tests on.
FROM node:26-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The session reader library is an npm workspace that Gatehouse imports: npm ci needs its manifest.
COPY packages/session-reader/package.json packages/session-reader/
RUN npm ci --no-audit --no-fund
COPY . .
# The owner of /app may write the development key, .gatehouse/jwt-ed25519.pem, when no JWT_PRIVATE_KEY is given.
RUN npm run build && npm prune --omit=dev && chown node:node /app
USER node
EXPOSE 3000
# Two glibc malloc arenas instead of up to 8 per core: the worker threads' arenas stay resident
# after the threads are gone. About 20 MB less RSS, same throughput (docs/performance.md, "Memory").
ENV MALLOC_ARENA_MAX=2
CMD ["node", "dist/server.js"]
