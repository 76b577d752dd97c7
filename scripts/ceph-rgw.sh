#!/usr/bin/env bash
# Throwaway single-node Ceph RADOS Gateway on 127.0.0.1 for the S3 test suite.
#
#   scripts/ceph-rgw.sh install        apt-get the Ceph packages (root, Debian 12)
#   scripts/ceph-rgw.sh start [DIR]    mon + one BlueStore OSD + radosgw; writes DIR/env
#   scripts/ceph-rgw.sh stop  [DIR]    stop the daemons and remove DIR
#   scripts/ceph-rgw.sh gateway-stop  [DIR]   stop radosgw only (the S3 endpoint goes away)
#   scripts/ceph-rgw.sh gateway-start [DIR]   start radosgw again, same data; wait for HTTP
#
# DIR defaults to /tmp/images-to-s3-ceph; the S3 port to 7480 (env CEPH_RGW_PORT).
# Then: `. DIR/env` exports S3_TEST_ENDPOINT, S3_TEST_ACCESS_KEY_ID,
# S3_TEST_SECRET_ACCESS_KEY, S3_TEST_REGION, S3_TEST_SERVER and S3_TEST_CEPH_DIR (DIR, for the
# outage tests, which stop and start the gateway).
# Background and the settings that matter: S3-SERVERS.md (Ceph RGW on loopback).
set -euo pipefail

readonly DEFAULT_DIR=/tmp/images-to-s3-ceph
readonly PORT="${CEPH_RGW_PORT:-7480}"
# curl: HTTP readiness check and the SigV4 warm-up (not on every minimal image).
readonly PACKAGES=(radosgw ceph-mon ceph-osd curl)
# Fixed test credentials: this gateway only ever listens on loopback.
readonly ACCESS_KEY=IMAGESTOS3TESTKEY000
readonly SECRET_KEY=images-to-s3-test-secret-key-0000000000
readonly REGION=us-east-1
readonly RGW_NAME=client.rgw.gw
# Bounds for the waits below, in seconds.
readonly MON_TIMEOUT=30 OSD_TIMEOUT=60 RGW_TIMEOUT=60 STOP_TIMEOUT=15

die() { echo "ceph-rgw: error: $*" >&2; exit 1; }
log() { echo "ceph-rgw: $*" >&2; }

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

# ---------------------------------------------------------------- install

cmd_install() {
  need_root
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "packages already installed: ${PACKAGES[*]}"
    return 0
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Recommends would add ceph-mgr, ceph-mds, ceph-fuse and ~50 python packages; none needed here.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------- helpers

# ceph CLI against our cluster only; bounded so a dead mon fails instead of hanging.
ceph_cli() { ceph -c "$CONF" --connect-timeout 10 "$@"; }

# running PID: alive and not a zombie. kill -0 succeeds on zombies, which linger
# where PID 1 is slow to reap (containers, micro-VMs).
running() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != [ZX] ]]
}

daemon_pid() { # daemon_pid NAME: print the pid of our running daemon NAME (e.g. mon.a)
  local f="$DIR/run/$1.pid" pid
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  running "$pid" || return 1
  # Guard against pid reuse: it must be a daemon started with our ceph.conf.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- " $CONF " || return 1
  echo "$pid"
}

pid_alive() { daemon_pid "$1" >/dev/null; }

fail_with_log() { # fail_with_log LOGNAME MESSAGE
  echo "ceph-rgw: error: $2" >&2
  if [[ -f $DIR/log/$1.log ]]; then
    echo "---- last lines of $DIR/log/$1.log ----" >&2
    tail -n 30 "$DIR/log/$1.log" >&2
  fi
  exit 1
}

wait_for() { # wait_for SECONDS LOGNAME WHAT CMD...: poll CMD every 0.25 s until it succeeds
  local limit=$1 logname=$2 what=$3
  local deadline=$((SECONDS + limit))
  shift 3
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail_with_log "$logname" "timed out after ${limit}s waiting for $what"
    sleep 0.25
  done
}

start_daemon() { # start_daemon NAME CMD...: CMD forks into the background itself
  # Its pre-fork chatter (e.g. "Falling back to public interface") goes to a file, not CI output.
  local name=$1
  shift
  "$@" >"$DIR/log/$name.start.log" 2>&1 || fail_with_log "$name.start" "$name failed to start"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

osd0_up() { ceph_cli osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

rgw_http() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; }

write_conf() {
  local fsid=$1
  # Everything lives under $DIR; only loopback addresses; no cephx (test-only cluster).
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# One OSD: size-1 pools, replicas spread over OSDs not hosts, few PGs
# (the default 32 PGs x RGW's pools nears the PG-per-OSD cap).
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
run_dir = $DIR/run
pid_file = $DIR/run/\$name.pid
log_file = $DIR/log/\$name.log
admin_socket = $DIR/run/\$name.asok
keyring = $DIR/keyring
mon_data = $DIR/mon
osd_data = $DIR/osd

[client]
# CLI tools run concurrently: give each its own admin socket.
admin_socket = $DIR/run/\$name.\$pid.asok

[mon]
# Paxos batches map changes for 1 s by default; RGW's first start and first bucket
# make about a dozen of them in sequence (pool create + application enable per pool).
paxos_propose_interval = 0.1

[osd]
# BlueStore on a sparse file in osd_data (MemStore would lose data on restart).
# No bluestore_block_path: pointing it into the OSD dir breaks mkfs (ELOOP).
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 8G

[$RGW_NAME]
admin_socket = $DIR/run/\$name.asok
rgw_data = $DIR/rgw
rgw_frontends = beast endpoint=127.0.0.1:$PORT
# radosgw defaults to cephx and a secure mon session; without these it hangs 300 s and exits.
ms_mon_client_mode = crc
auth_client_required = none
EOF
}

# S3 request signed with SigV4 by curl; prints the HTTP status. curl 7.88 does not send
# x-amz-content-sha256, which RGW requires (403 SignatureDoesNotMatch without it).
s3_curl() { # s3_curl METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X "$method" \
    --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "http://127.0.0.1:$PORT$path"
}

warm_up() {
  # The first write on a fresh Ceph takes ~2 s (RGW creates its data pools lazily):
  # pay it here, not in the first timed test.
  local bucket="warmup-$$"
  warm_up_step PUT "/$bucket"
  warm_up_step PUT "/$bucket/o" --data-binary warm
  warm_up_step DELETE "/$bucket/o"
  warm_up_step DELETE "/$bucket"
}

warm_up_step() { # warm_up_step METHOD PATH [curl args...]
  local code
  code=$(s3_curl "$@") || true
  [[ $code == 2?? ]] || fail_with_log "$RGW_NAME" "warm-up request '$1 $2' answered HTTP $code"
}

write_env() {
  cat >"$DIR/env" <<EOF
export S3_TEST_ENDPOINT=http://127.0.0.1:$PORT
export S3_TEST_ACCESS_KEY_ID=$ACCESS_KEY
export S3_TEST_SECRET_ACCESS_KEY=$SECRET_KEY
export S3_TEST_REGION=$REGION
export S3_TEST_SERVER=ceph-rgw
export S3_TEST_CEPH_DIR=$DIR
EOF
}

# ---------------------------------------------------------------- stop

stop_daemons() { # stop_daemons [SIGNAL]: KILL for a broken cluster (radosgw ignores TERM without its OSD)
  local sig=${1:-TERM} name pid deadline
  # Gateway first, then storage, then the monitor everything talks to.
  for name in "$RGW_NAME" osd.0 mon.a; do
    pid=$(daemon_pid "$name") || continue
    kill "-$sig" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while running "$pid"; do
      if ((SECONDS >= deadline)); then
        log "$name (pid $pid) still running ${STOP_TIMEOUT}s after SIG$sig; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
        break
      fi
      sleep 0.1
    done
  done
}

# Refuse to rm -rf anything this script did not create.
check_ours() {
  [[ $DIR != / ]] || die "refusing to use / as DIR"
  [[ ! -e $DIR || -f $DIR/.images-to-s3-ceph ]] || die "$DIR exists and was not created by this script"
}

cmd_stop() {
  need_root
  check_ours
  [[ -e $DIR ]] || { log "nothing to stop in $DIR"; return 0; }
  stop_daemons
  rm -rf -- "$DIR"
  log "stopped; removed $DIR"
}

# ---------------------------------------------------------------- start

on_start_exit() {
  (($1 == 0)) && return
  stop_daemons KILL
  log "start failed; daemons stopped, logs kept in $DIR/log ('$0 stop $DIR' removes it)"
}

cmd_start() {
  need_root
  check_ours
  local b
  for b in ceph ceph-authtool monmaptool ceph-mon ceph-osd radosgw radosgw-admin curl; do
    command -v "$b" >/dev/null || die "$b not found; run '$0 install' first"
  done

  if [[ -f $DIR/env ]] && pid_alive mon.a && pid_alive osd.0 && pid_alive "$RGW_NAME"; then
    log "already running in $DIR"
    cat "$DIR/env"
    return 0
  fi
  if [[ -e $DIR ]]; then
    # A half-started or crashed cluster: start over rather than guess at its state.
    log "$DIR holds a stale or incomplete cluster; recreating it"
    stop_daemons KILL
    rm -rf -- "$DIR"
  fi
  local p
  for p in 3300 6789 "$PORT"; do
    port_free "$p" || die "127.0.0.1:$p is in use (another Ceph or S3 server running?)"
  done

  # If anything below fails, do not leave daemons holding the ports; keep the logs.
  trap 'on_start_exit $?' EXIT
  mkdir -p "$DIR"/{run,log,mon,osd,rgw}
  touch "$DIR/.images-to-s3-ceph"
  local fsid osd_uuid osd_id
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"

  # Monitor. Even with auth none, mkfs wants a mon. keyring.
  log "creating monitor"
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' \
    "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  start_daemon mon.a ceph-mon -c "$CONF" -i a
  wait_for "$MON_TIMEOUT" mon.a "the monitor to answer" ceph_cli mon stat

  # One BlueStore OSD; it adds itself to the CRUSH map when it starts.
  log "creating OSD"
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(ceph_cli osd new "$osd_uuid")
  [[ $osd_id == 0 ]] || die "expected osd id 0, got '$osd_id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/osd.0.mkfs.log" 2>&1 ||
    fail_with_log osd.0.mkfs "ceph-osd --mkfs failed"
  start_daemon osd.0 ceph-osd -c "$CONF" -i 0
  wait_for "$OSD_TIMEOUT" osd.0 "osd.0 to be up" osd0_up

  log "starting radosgw on 127.0.0.1:$PORT"
  start_daemon "$RGW_NAME" radosgw -c "$CONF" -n "$RGW_NAME"
  wait_for "$RGW_TIMEOUT" "$RGW_NAME" "HTTP on 127.0.0.1:$PORT" rgw_http

  radosgw-admin -c "$CONF" user create --uid=images-to-s3-test --display-name='images-to-s3 tests' \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null ||
    fail_with_log client.admin "radosgw-admin user create failed"
  warm_up

  write_env
  trap - EXIT
  log "ready (state, logs and sockets in $DIR)"
  cat "$DIR/env"
}

# ---------------------------------------------------------------- gateway only

cmd_gateway_stop() {
  need_root
  check_ours
  local pid deadline
  pid=$(daemon_pid "$RGW_NAME") || { log "radosgw is not running in $DIR"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while running "$pid"; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
  done
  log "radosgw stopped"
}

cmd_gateway_start() {
  need_root
  check_ours
  [[ -f $DIR/env ]] || die "no cluster in $DIR; run '$0 start $DIR' first"
  if pid_alive "$RGW_NAME"; then
    log "radosgw already running"
    return 0
  fi
  start_daemon "$RGW_NAME" radosgw -c "$CONF" -n "$RGW_NAME"
  wait_for "$RGW_TIMEOUT" "$RGW_NAME" "HTTP on 127.0.0.1:$PORT" rgw_http
  log "radosgw started"
}

# ---------------------------------------------------------------- main

(($# >= 1)) || usage
cmd=$1
shift
case $cmd in
  install) (($# == 0)) || usage; cmd_install ;;
  start | stop | gateway-stop | gateway-start)
    (($# <= 1)) || usage
    DIR=$(realpath -m -- "${1:-$DEFAULT_DIR}")
    CONF=$DIR/ceph.conf
    "cmd_${cmd//-/_}"
    ;;
  *) usage ;;
esac
