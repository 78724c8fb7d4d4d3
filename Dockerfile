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
# As `npm start`: scripts/start.sh sets the runtime's memory settings (MALLOC_ARENA_MAX, V8's
# young generation; docs/ops.md, "Memory and container limits") and execs node, which stays PID 1
# and gets the signals.
CMD ["sh", "scripts/start.sh"]
