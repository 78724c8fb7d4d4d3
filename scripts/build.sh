#!/bin/sh
# npm run build (and npm start, npm test, before they run): builds what changed since the last build.
#
# Each step's output holds a stamp, `.inputs`: a hash of the content and names of every file that
# step reads. A step runs only when the hash differs (or there is no output: a fresh clone), so a
# second `npm start` with nothing changed skips them all; any change, added or removed file
# included, rebuilds that step and those after it that read it. FORCE_BUILD=1 builds everything.
#
# A step builds into <dir>.next and swaps it in for <dir>, the stamp inside: `npm start` builds
# while tests run dist/server.js and dist/cli, which must never find dist/ half-written, and a
# build that is interrupted leaves the old output and its old stamp, never a new stamp on old files.
set -eu

# inputs_hash <path>...: one hash over the names and contents of every file under the paths.
inputs_hash() {
  find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64
}

# up_to_date <stamp> <hash>: the output was built from exactly these inputs.
up_to_date() {
  [ "${FORCE_BUILD:-}" != 1 ] && [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]
}

# swap_in <dir>: <dir>.next replaces <dir> (readers see the old tree or the new one).
swap_in() {
  rm -rf "$1.old"
  if [ -d "$1" ]; then mv "$1" "$1.old"; fi
  mv "$1.next" "$1"
  rm -rf "$1.old"
}

# One build at a time in a clone (`npm start` in one terminal, `npm test` in another): two would
# build into the same <dir>.next, one removing it under the other. A second build waits for the
# first, and then finds most or all of it up to date. The lock is a directory (mkdir is atomic)
# naming its build's pid; one whose build has died (killed) is taken over.
lock=.build.lock
waits=0
while ! mkdir "$lock" 2>/dev/null; do
  holder=$(cat "$lock/pid" 2>/dev/null || true)
  if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then
    rm -rf "$lock"
    continue
  fi
  if [ "$waits" -eq 0 ]; then echo "build: waiting for the build that runs (pid ${holder:-?})" >&2; fi
  waits=$((waits + 1))
  if [ "$waits" -gt 1200 ]; then
    echo "build: another build (pid ${holder:-?}) has held $lock for 10 minutes; if none runs, remove $lock" >&2
    exit 1
  fi
  sleep 0.5
done
trap 'rm -rf "$lock"' EXIT
trap 'exit 130' INT TERM HUP
echo $$ > "$lock/pid"

# Every step reads this script and the locked dependency versions (compilers, types, esbuild).
common="scripts/build.sh package.json package-lock.json"

# The session reader library (an npm workspace), which Gatehouse imports too: built first.
reader=packages/session-reader
reader_inputs=$(inputs_hash $common tsconfig.json "$reader/tsconfig.json" "$reader/package.json" "$reader/src")
if ! up_to_date "$reader/dist/.inputs" "$reader_inputs"; then
  echo "build: $reader"
  rm -rf "$reader/dist.next"
  tsc -p "$reader/tsconfig.json" --outDir "$reader/dist.next"
  echo "$reader_inputs" > "$reader/dist.next/.inputs"
  swap_in "$reader/dist"
fi

# The Prisma client, generated into src/generated/prisma (read by src/ and by the tests in place).
prisma_inputs=$(inputs_hash $common prisma/schema.prisma prisma.config.ts)
if [ ! -d src/generated/prisma ] || ! up_to_date src/generated/prisma.inputs "$prisma_inputs"; then
  echo "build: Prisma client"
  rm -f src/generated/prisma.inputs
  npm run --silent prisma:generate
  echo "$prisma_inputs" > src/generated/prisma.inputs
fi

# src/ into dist/. src/ includes the generated client; the reader's types are compiled against too.
server_inputs=$(inputs_hash $common tsconfig.json tsconfig.build.json src "$reader/package.json" "$reader/src")
if ! up_to_date dist/.inputs "$server_inputs"; then
  echo "build: dist (src/)"
  rm -rf dist.next
  tsc -p tsconfig.build.json --outDir dist.next
  # The session scripts are read beside their module (src/sessions/scripts/index.ts).
  mkdir -p dist.next/sessions/scripts/includes
  cp src/sessions/scripts/*.lua dist.next/sessions/scripts/
  cp src/sessions/scripts/includes/*.lua dist.next/sessions/scripts/includes/
  # The bcrypt worker is plain JavaScript (see src/users/bcrypt-worker.js).
  cp src/users/bcrypt-worker.js dist.next/users/
  # So is the embedded database's initdb, forked by src/db/embedded.ts.
  cp src/db/pglite-initdb.js dist.next/db/
  chmod +x dist.next/cli/index.js
  echo "$server_inputs" > dist.next/.inputs
  swap_in dist
fi

# The ops console's page, script and style (console/src), served from console/dist by src/routes/console.ts.
# It bundles the reader's constants (@gatehouse/session-reader/constants, built above), and only them.
console_inputs=$(inputs_hash $common scripts/build-console.mjs console/index.html console/tsconfig.json console/src "$reader/package.json" "$reader/src/constants.ts")
if ! up_to_date console/dist/.inputs "$console_inputs"; then
  echo "build: console/dist"
  node scripts/build-console.mjs "$console_inputs"
fi
