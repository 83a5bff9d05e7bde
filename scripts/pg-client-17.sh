#!/usr/bin/env bash
# pg_dump, pg_dumpall, pg_restore and psql 17 for the tests, from Debian 13's postgresql-client-17.
# Its binaries need glibc 2.38 and Debian 12 has 2.36, so they run inside a Debian 13 root made
# with debootstrap in .pg-client-17/root (gitignored, about 300 MB, made in 1-2 minutes), through
# wrappers in .pg-client-17/bin that chroot into it. A chroot shares the host's network and
# environment, so PG* variables and 127.0.0.1 work as for any client; stdin/stdout are pipes.
# Needs root and debootstrap (Debian package). Idempotent: does nothing once the root is complete.
# Prints the bin directory.
set -euo pipefail
cd "$(dirname "$0")/.."
home="$PWD/.pg-client-17"
root="$home/root"
bin="$home/bin"
mirror="${DEBIAN13_MIRROR:-http://deb.debian.org/debian}"

if [ ! -f "$root/.complete" ]; then
  # A root left half-made by an interrupted run is made again from scratch.
  rm -rf "$root"
  mkdir -p "$home"
  /usr/sbin/debootstrap --variant=minbase --include=postgresql-client-17 trixie "$root" "$mirror" >"$home/debootstrap.log" 2>&1 || {
    tail -20 "$home/debootstrap.log" >&2
    echo "pg-client-17: debootstrap of Debian 13 failed (log: $home/debootstrap.log)" >&2
    exit 1
  }
  touch "$root/.complete"
fi

mkdir -p "$bin"
for program in pg_dump pg_dumpall pg_restore psql; do
  printf '#!/bin/sh\nexec /usr/sbin/chroot %q /usr/lib/postgresql/17/bin/%s "$@"\n' "$root" "$program" >"$bin/$program.tmp"
  chmod 755 "$bin/$program.tmp"
  mv "$bin/$program.tmp" "$bin/$program"
done
"$bin/pg_dump" --version >&2
echo "$bin"
