#!/usr/bin/env bash
# npm run setup: make this machine ready for `npm run demo` and `npm test`.
#   1. npm ci (the project's own dependencies, from the lockfile);
#   2. the system packages the demo and the tests run, when missing: apt on Debian/Ubuntu, as root
#      or through sudo; anywhere else it prints what to install and exits 1;
#   3. a check that prints what it found (versions, paths) and exits 1 when anything is missing.
# Plain bash: it runs before node_modules exists. `.ci/run` calls it too.
# Options: --no-npm skips step 1; --check only runs step 3.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_MAJOR=15
# PG_BIN as tools/local/postgres.ts reads it.
PG_BIN="${PG_BIN:-/usr/lib/postgresql/${PG_MAJOR}/bin}"
NODE_MAJOR_MIN=20

run_npm=1
install=1
for arg in "$@"; do
  case "$arg" in
    --no-npm) run_npm=0 ;;
    --check) run_npm=0 install=0 ;;
    *) echo "setup: unknown option $arg (use --no-npm or --check)" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*"; }

# The Debian package that provides each program the demo and the tests start.
missing_packages() {
  local missing=()
  [ -x "$PG_BIN/initdb" ] || missing+=("postgresql-${PG_MAJOR}")
  command -v zstd >/dev/null 2>&1 || missing+=(zstd)
  # Tests run as root start PostgreSQL as the postgres user through runuser (initdb refuses root).
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
  # Media restores extract with bsdtar: GNU tar cannot create paths longer than PATH_MAX.
  command -v bsdtar >/dev/null 2>&1 || missing+=(libarchive-tools)
  # The README's "restore with standard tools alone" is tested with the AWS CLI itself.
  command -v aws >/dev/null 2>&1 || missing+=(awscli)
  # pg_dump 17 and 18 for the PostgreSQL-majors test run inside a Debian 13 root (scripts/pg-clients.sh).
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  echo "${missing[@]}"
}

is_debian_like() {
  [ -r /etc/os-release ] || return 1
  # shellcheck disable=SC1091
  local id id_like
  id=$(. /etc/os-release && echo "${ID:-}")
  id_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
  case " $id $id_like " in *" debian "* | *" ubuntu "*) command -v apt-get >/dev/null 2>&1 ;; *) return 1 ;; esac
}

install_packages() {
  local packages=("$@")
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      say "missing: ${packages[*]}; not root and no sudo. As root, run:"
      echo "  apt-get update && apt-get install -y --no-install-recommends ${packages[*]}"
      exit 1
    fi
  fi
  say "installing: ${packages[*]}${sudo:+ (through sudo)}"
  # The tests make their own throwaway clusters; Debian's default cluster would only take a port.
  "${sudo[@]}" mkdir -p /etc/postgresql-common
  if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
    echo 'create_main_cluster = false' | "${sudo[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${packages[@]}"; then
    say "apt-get could not install ${packages[*]}."
    if [[ " ${packages[*]} " == *" postgresql-${PG_MAJOR} "* ]]; then
      say "postgresql-${PG_MAJOR} is in Debian 12; elsewhere add PostgreSQL's own apt repository first:"
      echo "  https://www.postgresql.org/download/linux/debian/ (or .../ubuntu/), then run npm run setup again"
    fi
    exit 1
  fi
}

if [ "$run_npm" -eq 1 ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

if [ "$install" -eq 1 ]; then
  read -r -a missing <<<"$(missing_packages)"
  if [ "${#missing[@]}" -gt 0 ]; then
    if is_debian_like; then
      install_packages "${missing[@]}"
    else
      say "missing: ${missing[*]} (Debian package names). This is not Debian or Ubuntu: install the"
      say "equivalents with your package manager (PostgreSQL ${PG_MAJOR} server binaries, zstd, runuser,"
      say "bsdtar, the AWS CLI), and set PG_BIN when PostgreSQL ${PG_MAJOR} is not at ${PG_BIN}."
      exit 1
    fi
  fi
fi

# ---- the check: what the demo and the tests will find ----
problems=0
found() { printf '  %-12s %s\n' "$1" "$2"; }
lack() {
  printf '  %-12s MISSING: %s\n' "$1" "$2"
  problems=$((problems + 1))
}
first_line() { "$@" 2>&1 | head -n 1; }

echo "setup: found"
if command -v node >/dev/null 2>&1; then
  node_version=$(node --version)
  node_major=${node_version#v}
  node_major=${node_major%%.*}
  if [ "$node_major" -ge "$NODE_MAJOR_MIN" ]; then
    found node "$node_version at $(command -v node)"
  else
    lack node "$node_version at $(command -v node); needs ${NODE_MAJOR_MIN} or later"
  fi
else
  lack node "Node.js ${NODE_MAJOR_MIN} or later (https://nodejs.org)"
fi
if [ -d node_modules/.bin ] && [ -x node_modules/.bin/tsx ]; then
  found node_modules "$(pwd)/node_modules"
else
  lack node_modules "run npm ci"
fi
for program in initdb pg_ctl postgres psql pg_dump pg_restore; do
  if [ -x "$PG_BIN/$program" ]; then
    found "$program" "$(first_line "$PG_BIN/$program" --version) at $PG_BIN/$program"
  else
    lack "$program" "postgresql-${PG_MAJOR} (expected at $PG_BIN/$program)"
  fi
done
if [ "$(id -u)" -eq 0 ]; then
  # As root the tests and the demo run PostgreSQL as this user.
  if id postgres >/dev/null 2>&1; then found postgres-user "uid $(id -u postgres)"; else lack postgres-user "the postgres OS user (created by postgresql-${PG_MAJOR})"; fi
fi
check_program() {
  local program=$1 package=$2
  shift 2
  if command -v "$program" >/dev/null 2>&1; then
    found "$program" "$(first_line "$program" "$@") at $(command -v "$program")"
  else
    lack "$program" "$package"
  fi
}
check_program zstd zstd --version
check_program runuser util-linux --version
check_program bsdtar libarchive-tools --version
check_program tar tar --version
check_program aws awscli --version

if [ "$problems" -gt 0 ]; then
  say "$problems missing; see above."
  exit 1
fi
say "ready: npm run demo, npm test"
