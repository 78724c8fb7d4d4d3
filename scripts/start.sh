#!/bin/sh
# How the server starts in production: `npm start` and the Docker image's CMD both run this file,
# so the runtime's memory settings have one home (docs/ops.md, "Memory and container limits";
# the measurements are in docs/performance.md, "Memory").
#
# MALLOC_ARENA_MAX=2: glibc keeps two malloc arenas instead of up to 8 per core; the arenas of
# the bcrypt threads would stay resident after the threads are gone (about 20 MB).
#
# --max-semi-space-size=16: V8 sizes its young generation from the memory it sees. In a 256 MiB
# cgroup it keeps it near 1 MB and GET /me makes 15 times as many scavenges as without a limit
# (3 times the GC time per request); on a large machine it grows it to about 54 MB. Fixed, the
# server collects young garbage the same way in and out of a container, with about 26 MB less
# young generation on a large machine (1.04x and 1.07x the CPU per GET /me in two comparisons:
# within the noise).
#
# The old generation is left to V8 (sized from the cgroup's limit in a container). Capping it
# (NODE_OPTIONS=--max-old-space-size=512) cuts RSS under load from about 300 to 200 MB on a large
# machine but cost 1.14x to 1.6x the CPU per GET /me: docs/performance.md, "Memory".
#
# Values given in NODE_OPTIONS come after these and win.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export NODE_OPTIONS="--max-semi-space-size=16${NODE_OPTIONS:+ $NODE_OPTIONS}"
# The server beside this script, whatever the working directory (which is where .env is read from).
exec node "$(dirname "$0")/../dist/server.js" "$@"
