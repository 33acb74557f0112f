#!/usr/bin/env bash
# StrykerJS 10 needs Node >= 22; the project runs on Node 20, so fetch a Node 22 from the npm registry when needed.
# Usage: npm run mutate [-- --mutate 'src/core/perf/**/*.ts']
set -euo pipefail
cd "$(dirname "$0")/.."
# Stryker runs the tests from a copy in .stryker-tmp/, where ../shared is not beside the repository.
export INFERSIM_MUTATE=1
export INFERSIM_REFERENCE="${INFERSIM_REFERENCE:-$(cd .. && pwd)/shared/reference/}"
stryker=node_modules/@stryker-mutator/core/bin/stryker.js
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -ge 22 ]; then
  exec node "$stryker" run "$@"
fi
exec npx -y node@22 "$stryker" run "$@"
