#!/bin/sh
# npm test's checks after the build: the type check and lint at the same time (each is one process
# on one core, about as long as the other), their output shown after, whole, one after the other.
# Fails if either fails.
set -u
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT INT TERM
npm run --silent typecheck >"$out/typecheck" 2>&1 &
typecheck=$!
npm run --silent lint >"$out/lint" 2>&1 &
lint=$!
wait "$typecheck"
typecheck_status=$?
wait "$lint"
lint_status=$?
cat "$out/typecheck" "$out/lint"
[ "$typecheck_status" -eq 0 ] || echo "typecheck failed (exit $typecheck_status)" >&2
[ "$lint_status" -eq 0 ] || echo "lint failed (exit $lint_status)" >&2
[ "$typecheck_status" -eq 0 ] && [ "$lint_status" -eq 0 ]
