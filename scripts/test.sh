#!/usr/bin/env bash
# `npm test`: everything the tests need, then the type-check and every test. On a fresh clone with nothing running:
#   1. dependencies: `npm ci` when node_modules is missing or does not match package.json/package-lock.json;
#   2. the headless browser of the Temporal UI test (Debian `chromium`, or CHROMIUM_PATH): installed with
#      apt-get where we are root, otherwise a one-line error with the command to run;
#   3. the local stack (scripts/stack.sh) with its object stores (Azurite, versitygw; the lake and stage suites run on
#      local disk, az:// and s3://): started when its services are not running, and afterwards only the services
#      this run started are stopped again; a stack that was already up is left as it was. STACK_OBJECT_STORES=0
#      leaves the object stores out: their runs are then skipped, with a warning in every suite that skips them;
#   4. `tsc --noEmit`, then `jest --runInBand` with any extra arguments (`npm test -- test/unit`,
#      `npm test -- --json --outputFile=out.json`).
# The exit status is jest's (or the first failing step's).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test: %s\n' "$*"; }
die() {
  printf 'test: error: %s\n' "$*" >&2
  exit 1
}

# ---- 1. dependencies
# `npm ls` fails when a dependency is missing or has another version than package.json pins (e.g. after a pull).
if [[ ! -x node_modules/.bin/jest || ! -x node_modules/.bin/tsc ]] || ! npm ls --depth=0 >/dev/null 2>&1; then
  say "installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi

# ---- 2. headless browser for test/integration/temporal-ui.test.ts
chromium_path=${CHROMIUM_PATH:-/usr/bin/chromium}
if [[ ! -x $chromium_path ]]; then
  [[ -z ${CHROMIUM_PATH:-} ]] || die "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable"
  install_cmd="apt-get update && apt-get install -y chromium"
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing the headless browser for the Temporal UI test ($install_cmd)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
      die "could not install chromium; run: sudo $install_cmd"
  else
    die "the Temporal UI test needs Debian's chromium; run: sudo $install_cmd   (or set CHROMIUM_PATH to a Chromium/Chrome binary)"
  fi
  [[ -x $chromium_path ]] || die "chromium installed but $chromium_path is missing; set CHROMIUM_PATH"
fi

# ---- 3. the local stack, left as it was found
# With the object stores unless told otherwise: a user running `npm test` gets the az:// and s3:// runs too (they
# start in ~2 s; versitygw's one-time `go install` takes a few minutes and is cached in .stack/bin). With
# STACK_OBJECT_STORES=1 the tests fail, not skip, when a store is not up (test/helpers/object-stores.ts).
export STACK_OBJECT_STORES=${STACK_OBJECT_STORES:-1}
if [[ $STACK_OBJECT_STORES != 1 ]]; then
  say "STACK_OBJECT_STORES=$STACK_OBJECT_STORES: not starting the object stores; the az:// and s3:// runs of the lake tests are SKIPPED"
fi
stack() { bash scripts/stack.sh "$@"; }
was_running=$(stack running)
if ! stack status >/dev/null 2>&1; then
  say "the local stack is not (fully) up: starting it${was_running:+ (already running: ${was_running//$'\n'/, })}"
  # Stops what this run started, also after a failed `up` or an interrupted test run.
  stop_started() {
    local started=() s
    for s in $(stack running); do grep -qx "$s" <<<"$was_running" || started+=("$s"); done
    if ((${#started[@]})); then
      say "stopping what this run started: ${started[*]}"
      stack down "${started[@]}" || true
    fi
  }
  trap stop_started EXIT
  trap 'exit 130' INT TERM
  stack up || die "the local stack did not start (see above); to test without the object stores: STACK_OBJECT_STORES=0 npm test"
else
  say "the local stack is up: using it (and leaving it running)"
fi

# ---- 4. type-check and every test (serially: they share one Kafka and one Temporal)
say "node $(node --version)"
node_modules/.bin/tsc -p tsconfig.json --noEmit
# Not exec: the EXIT trap above must still stop what we started.
rc=0
node_modules/.bin/jest --runInBand "$@" || rc=$?
exit "$rc"
