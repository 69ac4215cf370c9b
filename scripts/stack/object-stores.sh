# shellcheck shell=bash
# Object stores for lakes on az:// and s3:// (sourced by scripts/stack.sh; started only when asked:
# `npm run stack -- up --object-stores` or STACK_OBJECT_STORES=1):
#   - Azurite (npm `azurite`, a devDependency)  Azure Blob API   127.0.0.1:$AZURITE_PORT, account $AZURITE_ACCOUNT
#   - versitygw (Go, `go install`, cached)       S3 API          127.0.0.1:$VERSITYGW_PORT, posix backend
# Each gets generated credentials in .stack/secrets (never in stack.env) and an empty container / bucket named
# $OBJECT_STORE_BUCKET. Both honour put-if-absent (Azure If-None-Match:* -> 409, S3 If-None-Match:* -> 412), which
# Delta commits need; s3rver does not and must not be used instead.

AZURITE_VERSION=3.37.0 # npm azurite; package.json pins the same version (devDependencies)
VERSITYGW_VERSION=v1.8.0
AZURITE_PORT=${STACK_AZURITE_PORT:-10000}
VERSITYGW_PORT=${STACK_VERSITYGW_PORT:-7070}
# The account is named devstoreaccount1 but its key is generated (AZURITE_ACCOUNTS replaces the published one):
# the delta extension (delta-kernel-rs / object_store) only talks to an emulator - http, path-style URL from
# AZURITE_BLOB_STORAGE_URL - for that account name; any other name goes to https://NAME.blob.core.windows.net.
AZURITE_ACCOUNT=devstoreaccount1
OBJECT_STORE_BUCKET=tributary
OBJECT_STORES_HEALTH_TIMEOUT_S=30

AZURITE_MAIN=$REPO_ROOT/node_modules/azurite/dist/src/blob/main.js
AZURITE_DIR=$STACK_DIR/azurite
AZURITE_PID=$AZURITE_DIR/pid
AZURITE_LOG=$AZURITE_DIR/server.log
AZURITE_KEY_FILE=$SECRETS/azurite_account_key
VERSITYGW_BIN=$BIN_DIR/versitygw
VERSITYGW_DIR=$STACK_DIR/versitygw
VERSITYGW_PID=$VERSITYGW_DIR/pid
VERSITYGW_LOG=$VERSITYGW_DIR/server.log
VERSITYGW_ACCESS_KEY_FILE=$SECRETS/versitygw_access_key
VERSITYGW_SECRET_KEY_FILE=$SECRETS/versitygw_secret_key

# By its data directory (in the stack dir), not by the script path: a stack shared by several checkouts (git
# worktrees with a symlinked .stack) runs the Azurite of whichever checkout started it.
azurite_pid() { owned_pid "$AZURITE_PID" --blobPort "$AZURITE_DIR/data"; }
versitygw_pid() { owned_pid "$VERSITYGW_PID" "$VERSITYGW_BIN" "$VERSITYGW_DIR/data"; }
object_stores_running() { azurite_pid >/dev/null && versitygw_pid >/dev/null; }

install_azurite() {
  local v
  v=$(node -p 'require(process.argv[1]).version' "$REPO_ROOT/node_modules/azurite/package.json" 2>/dev/null) || v=
  [[ $v == "$AZURITE_VERSION" ]] ||
    die "azurite $AZURITE_VERSION not in node_modules (found '${v:-none}'): run 'npm ci' in $REPO_ROOT"
  say "azurite: $AZURITE_VERSION installed (node_modules)"
}

install_versitygw() {
  if [[ -x $VERSITYGW_BIN && -f $VERSITYGW_BIN.version && $(<"$VERSITYGW_BIN.version") == "$VERSITYGW_VERSION" ]]; then
    say "versitygw: $VERSITYGW_VERSION installed (cached)"
    return
  fi
  have go || die "go not found (needed once to build versitygw $VERSITYGW_VERSION): install Go >= 1.25"
  say "versitygw: go install github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION (a few minutes the first time)"
  local log=$LOG_DIR/versitygw-install.log tmp
  tmp=$(mktemp -d "$STACK_DIR/tmp.XXXXXX")
  GOBIN=$tmp go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >"$log" 2>&1 || {
    rm -rf "$tmp"
    die "go install versitygw failed: $(last_line "$log"); log: $(rel "$log")"
  }
  mkdir -p "$BIN_DIR"
  mv "$tmp/versitygw" "$VERSITYGW_BIN"
  rm -rf "$tmp"
  printf '%s' "$VERSITYGW_VERSION" >"$VERSITYGW_BIN.version"
  say "versitygw: installed -> $(rel "$VERSITYGW_BIN")"
}

object_store_secrets() {
  mkdir -p "$SECRETS"
  chmod 700 "$SECRETS"
  # Azure account keys are base64 of 64 random bytes; S3 keys are opaque strings.
  [[ -s $AZURITE_KEY_FILE ]] || (umask 077 && openssl rand -base64 64 | tr -d '\n' >"$AZURITE_KEY_FILE")
  [[ -s $VERSITYGW_ACCESS_KEY_FILE ]] || (umask 077 && printf 'tributary%s' "$(random_hex 8)" >"$VERSITYGW_ACCESS_KEY_FILE")
  [[ -s $VERSITYGW_SECRET_KEY_FILE ]] || (umask 077 && random_hex 24 >"$VERSITYGW_SECRET_KEY_FILE")
}

start_azurite() {
  local pid
  if pid=$(azurite_pid); then
    say "azurite: already running (pid $pid)"
    return
  fi
  rm -f "$AZURITE_PID"
  require_free_ports "Azurite" "or set STACK_AZURITE_PORT to another port" "$AZURITE_PORT"
  mkdir -p "$AZURITE_DIR/data"
  printf '\n=== %s stack up: starting azurite\n' "$(date -u +%FT%TZ)" >>"$AZURITE_LOG"
  # AZURITE_ACCOUNTS replaces the well-known devstoreaccount1 key (published in Microsoft's docs) with ours.
  AZURITE_ACCOUNTS="$AZURITE_ACCOUNT:$(<"$AZURITE_KEY_FILE")" spawn "$AZURITE_PID" "$AZURITE_LOG" \
    node "$AZURITE_MAIN" --blobHost "$HOST" --blobPort "$AZURITE_PORT" --location "$AZURITE_DIR/data" \
    --skipApiVersionCheck --disableTelemetry --silent
  say "azurite: started (pid $(<"$AZURITE_PID"), data $(rel "$AZURITE_DIR/data"), log $(rel "$AZURITE_LOG"))"
}

start_versitygw() {
  local pid
  if pid=$(versitygw_pid); then
    say "versitygw: already running (pid $pid)"
    return
  fi
  rm -f "$VERSITYGW_PID"
  require_free_ports "versitygw" "or set STACK_VERSITYGW_PORT to another port" "$VERSITYGW_PORT"
  mkdir -p "$VERSITYGW_DIR/data" "$VERSITYGW_DIR/iam"
  printf '\n=== %s stack up: starting versitygw\n' "$(date -u +%FT%TZ)" >>"$VERSITYGW_LOG"
  ROOT_ACCESS_KEY=$(<"$VERSITYGW_ACCESS_KEY_FILE") ROOT_SECRET_KEY=$(<"$VERSITYGW_SECRET_KEY_FILE") \
    spawn "$VERSITYGW_PID" "$VERSITYGW_LOG" "$VERSITYGW_BIN" --port "$HOST:$VERSITYGW_PORT" \
    --iam-dir "$VERSITYGW_DIR/iam" posix "$VERSITYGW_DIR/data"
  say "versitygw: started (pid $(<"$VERSITYGW_PID"), data $(rel "$VERSITYGW_DIR/data"), log $(rel "$VERSITYGW_LOG"))"
}

# Waits until both answer with our credentials, creates the container / bucket, and probes put-if-absent.
wait_object_stores() {
  local out
  if ! out=$(NODE_NO_WARNINGS=1 AZURITE_KEY_FILE=$AZURITE_KEY_FILE VERSITYGW_ACCESS_KEY_FILE=$VERSITYGW_ACCESS_KEY_FILE \
    VERSITYGW_SECRET_KEY_FILE=$VERSITYGW_SECRET_KEY_FILE "$TSX" "$STACK_SRC/object-store-health.ts" \
    --azure-endpoint "$(azurite_endpoint)" --azure-account "$AZURITE_ACCOUNT" \
    --s3-endpoint "http://$HOST:$VERSITYGW_PORT" --bucket "$OBJECT_STORE_BUCKET" \
    --timeout-ms $((OBJECT_STORES_HEALTH_TIMEOUT_S * 1000)) 2>&1); then
    die "$(tail -n 1 <<<"$out") (see $(rel "$AZURITE_LOG"), $(rel "$VERSITYGW_LOG"))"
  fi
  while IFS= read -r line; do say "object stores: $line"; done <<<"$out"
}

azurite_endpoint() { printf 'http://%s:%s/%s' "$HOST" "$AZURITE_PORT" "$AZURITE_ACCOUNT"; }

# stack.env lines (endpoints and secret FILE names, never secrets), only while both run.
object_store_env() {
  object_stores_running || return 0
  echo "AZURITE_BLOB_ENDPOINT=$(azurite_endpoint)"
  echo "AZURITE_BLOB_STORAGE_URL=http://$HOST:$AZURITE_PORT"
  echo "AZURITE_ACCOUNT=$AZURITE_ACCOUNT"
  echo "AZURITE_ACCOUNT_KEY_FILE=$AZURITE_KEY_FILE"
  echo "AZURITE_CONTAINER=$OBJECT_STORE_BUCKET"
  echo "VERSITYGW_ENDPOINT=http://$HOST:$VERSITYGW_PORT"
  echo "VERSITYGW_ACCESS_KEY_FILE=$VERSITYGW_ACCESS_KEY_FILE"
  echo "VERSITYGW_SECRET_KEY_FILE=$VERSITYGW_SECRET_KEY_FILE"
  echo "VERSITYGW_BUCKET=$OBJECT_STORE_BUCKET"
}

up_object_stores() {
  need_openssl
  install_azurite
  install_versitygw
  object_store_secrets
  start_azurite
  start_versitygw
  wait_object_stores
}

# $1 = " name name " of the services to stop (see cmd_down).
down_object_stores() {
  local pid want=$1
  if [[ $want == *" azurite "* ]]; then
    if pid=$(azurite_pid); then stop_pid azurite "$pid" 10; else say "azurite: not running"; fi
    rm -f "$AZURITE_PID"
  fi
  if [[ $want == *" versitygw "* ]]; then
    if pid=$(versitygw_pid); then stop_pid versitygw "$pid" 10; else say "versitygw: not running"; fi
    rm -f "$VERSITYGW_PID"
  fi
}

# Sets ok=0 (in cmd_status) when the object stores were asked for (STACK_OBJECT_STORES=1) and are not running.
status_object_stores() {
  local pid
  ((WITH_OBJECT_STORES)) && ! object_stores_running && ok=0
  if pid=$(azurite_pid); then
    say "azurite:         running (pid $pid); ports $(ports_report "$pid" "$AZURITE_PORT"); $(azurite_endpoint)"
  else
    say "azurite:         not running (started by: npm run stack -- up --object-stores)"
  fi
  if pid=$(versitygw_pid); then
    say "versitygw:       running (pid $pid); ports $(ports_report "$pid" "$VERSITYGW_PORT"); http://$HOST:$VERSITYGW_PORT"
  else
    say "versitygw:       not running (started by: npm run stack -- up --object-stores)"
  fi
}
