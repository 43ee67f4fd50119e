#!/usr/bin/env bash
# Install the kill-switch suite on a trading host from this checkout.
#
#   deploy/install.sh [--dry-run] [--root DIR]
#
# --dry-run  print every step, change nothing.
# --root DIR install the files under DIR instead of / (a staging tree or a test); users,
#            ownership and systemctl are then printed, not done.
#
# Idempotent: existing configuration and keys are never overwritten. Venue keys are never
# created here: docs/operations.md says where to put them.
set -euo pipefail

DRY_RUN=0
ROOT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    --root=*) ROOT="${1#--root=}" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: error: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/opt/killswitch
VENV="$PREFIX/venv"
ETC=/etc/killswitch
UNIT_DIR=/etc/systemd/system
POLKIT_DIR=/etc/polkit-1/rules.d
WATCHDOG_USER=killswitch-watchdog
TRADER_USER=killswitch-trader
TELEMETRY_GROUP=killswitch-telemetry
PYTHON="${PYTHON:-python3}"

if [ -z "$ROOT" ] && [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: error: run as root (or use --dry-run / --root DIR)" >&2
  exit 1
fi

# step DESCRIPTION -- COMMAND...: print, then run unless dry.
step() {
  local what="$1"; shift; shift
  printf '+ %-44s %s\n' "$what" "$*"
  if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}
# host_step: only on the real root (users, ownership, systemd).
host_step() {
  local what="$1"
  if [ -n "$ROOT" ]; then
    shift; shift
    printf '+ %-44s (skipped under --root) %s\n' "$what" "$*"
  else
    step "$@"
  fi
}
r() { printf '%s%s' "$ROOT" "$1"; }

ensure_group() {
  getent group "$1" >/dev/null || groupadd --system "$1"
}
ensure_user() {  # user, supplementary group
  id -u "$1" >/dev/null 2>&1 || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin --groups "$2" "$1"
  usermod --append --groups "$2" "$1"
}
copy_once() {  # src dest owner group mode: never overwrite an operator's file
  if [ -e "$2" ]; then echo "  kept existing $2"; return; fi
  install -m "$5" "$1" "$2"
  if [ -z "$ROOT" ]; then chown "$3:$4" "$2"; fi
}
new_key_once() {  # dest: a fresh hex HMAC key, root 0600
  if [ -e "$1" ]; then echo "  kept existing $1"; return; fi
  (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))' >"$1")
}

echo "installing from $SRC into ${ROOT:-/}"

# 1. Users: the watchdog and the trader each have their own; they share only the telemetry group.
host_step "group $TELEMETRY_GROUP" -- ensure_group "$TELEMETRY_GROUP"
host_step "user $WATCHDOG_USER" -- ensure_user "$WATCHDOG_USER" "$TELEMETRY_GROUP"
host_step "user $TRADER_USER" -- ensure_user "$TRADER_USER" "$TELEMETRY_GROUP"

# 2. The virtual environment, from this checkout (not editable: the checkout may go away).
step "directory $PREFIX" -- install -d -m 0755 "$(r "$PREFIX")"
step "virtual environment $VENV" -- "$PYTHON" -m venv "$(r "$VENV")"
step "install the suite into the venv" -- "$(r "$VENV")/bin/python" -m pip install --quiet "$SRC/client" "$SRC"
step "runbooks" -- cp -r "$SRC/runbooks" "$(r "$PREFIX")/"
step "command links in /usr/local/bin" -- install -d -m 0755 "$(r /usr/local/bin)"
for tool in watchdog trader sysprep; do
  step "  /usr/local/bin/$tool" -- ln -sfn "$VENV/bin/$tool" "$(r /usr/local/bin/$tool)"
done

# 3. Configuration. /etc/killswitch/trader-credentials belongs to the watchdog: revoking the
#    trader's key file is a kill step. systemd reads every key as root (LoadCredential=).
step "directory $ETC" -- install -d -m 0755 "$(r "$ETC")"
step "directory $ETC/watchdog (0700)" -- install -d -m 0700 "$(r "$ETC/watchdog")"
step "directory $ETC/trader-credentials (0700)" -- install -d -m 0700 "$(r "$ETC/trader-credentials")"
host_step "owner of $ETC/watchdog" -- chown "$WATCHDOG_USER:$WATCHDOG_USER" "$ETC/watchdog"
host_step "owner of $ETC/trader-credentials" -- chown "$WATCHDOG_USER:$WATCHDOG_USER" "$ETC/trader-credentials"
step "watchdog.toml (root:$WATCHDOG_USER 0640)" -- copy_once "$SRC/deploy/config/watchdog.toml" "$(r "$ETC/watchdog.toml")" root "$WATCHDOG_USER" 0640
step "trader.toml (root:$TRADER_USER 0640)" -- copy_once "$SRC/deploy/config/trader.toml" "$(r "$ETC/trader.toml")" root "$TRADER_USER" 0640
step "limits (0644: not secret, read by both)" -- copy_once "$SRC/examples/limits.toml" "$(r "$ETC/trader-1.limits.toml")" root root 0644
step "telemetry HMAC key (root 0600)" -- new_key_once "$(r "$ETC/telemetry.key")"

# 4. Units and the polkit rule that lets the watchdog stop (only) the trader.
step "directory $UNIT_DIR" -- install -d -m 0755 "$(r "$UNIT_DIR")"
for unit in watchdog.service trader.service sysprep.service; do
  step "unit $unit" -- install -m 0644 "$SRC/deploy/systemd/$unit" "$(r "$UNIT_DIR/$unit")"
done
step "directory /etc/systemd/system.conf.d (sysprep's CPUAffinity= drop-in)" -- install -d -m 0755 "$(r /etc/systemd/system.conf.d)"
step "directory $POLKIT_DIR" -- install -d -m 0755 "$(r "$POLKIT_DIR")"
step "polkit rule" -- install -m 0644 "$SRC/deploy/polkit/50-killswitch-watchdog.rules" "$(r "$POLKIT_DIR/50-killswitch-watchdog.rules")"
host_step "systemctl daemon-reload" -- systemctl daemon-reload

cat <<NEXT
done. Next (docs/operations.md):
  1. put the venue keys in place: $ETC/watchdog/{account,master,trader-key}.toml and
     $ETC/trader-credentials/venue.key (owner $WATCHDOG_USER, mode 0600)
  2. edit $ETC/watchdog.toml and $ETC/trader.toml, then:
     watchdog check-config --config $ETC/watchdog.toml
  3. systemctl enable --now sysprep.service watchdog.service trader.service
NEXT
