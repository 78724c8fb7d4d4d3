#!/bin/sh
# npm run build: the Prisma client, then src/ compiled into dist.next/ and swapped in for dist/.
# The swap (not an rm -rf and rebuild in place) matters because `npm start` builds: the smoke test
# runs it while other tests start dist/server.js and dist/cli, which must never find dist/ missing
# or half-written.
set -eu

# swap_in <dir>: <dir>.next replaces <dir> (readers see the old tree or the new one, never a gap).
swap_in() {
  rm -rf "$1.old"
  if [ -d "$1" ]; then mv "$1" "$1.old"; fi
  mv "$1.next" "$1"
  rm -rf "$1.old"
}

# The session reader library (an npm workspace), which Gatehouse imports too: built first.
reader=packages/session-reader
rm -rf "$reader/dist.next"
tsc -p "$reader/tsconfig.json" --outDir "$reader/dist.next"
swap_in "$reader/dist"

npm run --silent prisma:generate
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
swap_in dist

# The ops console's page, script and style (console/src), served from console/dist by src/routes/console.ts.
node scripts/build-console.mjs
