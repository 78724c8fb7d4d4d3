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
# server collects the same way in and out of a container.
#
# --max-old-space-size=512: on a large machine V8 lets the old generation fill with 100 MB and
# more of dead request objects before a full collection (the heap's growing factor is 4 above
# 2 GB of limit, about 1.4 at 512 MB). RSS under load about 185 MB instead of 315 MB, for more
# full collections (about 14% more CPU per GET /me in the one run that compared them); 256 saves
# a few MB more and cost 30%. Live data is about 50 MB: 512 is far from any limit it reaches.
#
# Values given in NODE_OPTIONS come after these and win (e.g. NODE_OPTIONS=--max-old-space-size=4096
# gives V8 its own sizing back, for throughput where memory is plentiful).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
export NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=512${NODE_OPTIONS:+ $NODE_OPTIONS}"
# The server beside this script, whatever the working directory (which is where .env is read from).
exec node "$(dirname "$0")/../dist/server.js" "$@"
