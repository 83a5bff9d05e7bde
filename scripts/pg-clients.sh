#!/usr/bin/env bash
# pg_dump, pg_dumpall, pg_restore and psql of PostgreSQL 17 and 18 for the tests: Debian 13's
# postgresql-client-17, and postgresql-client-18 from Debian unstable (with its libpq5 18; both
# need only what Debian 13 has). Their binaries need glibc 2.38 and Debian 12 has 2.36, so they
# run inside a Debian 13 root made with debootstrap in .pg-clients/root (gitignored, about 300 MB,
# made in 1-2 minutes), through wrappers in .pg-clients/bin-<major> that chroot into it. A chroot
# shares the host's network and environment, so PG* variables and 127.0.0.1 work as for any
# client, and the wrapper binds the host's /tmp into it (Unix sockets there); stdin/stdout are
# pipes. Needs root and debootstrap (Debian package). Idempotent: does
# nothing once the root is complete.
# Usage: pg-clients.sh [17|18]: makes both, prints the bin directory of the one named (default 17).
set -euo pipefail
cd "$(dirname "$0")/.."
home="$PWD/.pg-clients"
root="$home/root"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
want="${1:-17}"
case "$want" in 17 | 18) ;; *) echo "pg-clients: no client $want here (17 or 18)" >&2; exit 2 ;; esac

fail() {
  tail -20 "$home/$1.log" >&2
  echo "pg-clients: $2 (log: $home/$1.log)" >&2
  exit 1
}

if [ ! -f "$root/.complete" ]; then
  # A root left half-made by an interrupted run is made again from scratch.
  rm -rf "$root"
  mkdir -p "$home"
  /usr/sbin/debootstrap --variant=minbase --include=postgresql-client-17 trixie "$root" "$mirror" \
    >"$home/debootstrap.log" 2>&1 || fail debootstrap "debootstrap of Debian 13 failed"
  touch "$root/.complete"
fi
if [ ! -f "$root/.complete-18" ]; then
  # Unstable only for what is asked of it by name (-t unstable): nothing else is upgraded. Its
  # Release file may be past its Valid-Until on a mirror snapshot; the signature is still checked.
  echo "deb [check-valid-until=no] $mirror unstable main" >"$root/etc/apt/sources.list.d/unstable.list"
  printf 'Package: *\nPin: release a=unstable\nPin-Priority: 100\n' >"$root/etc/apt/preferences.d/unstable"
  {
    /usr/sbin/chroot "$root" apt-get update &&
      DEBIAN_FRONTEND=noninteractive /usr/sbin/chroot "$root" \
        apt-get install -y --no-install-recommends -t unstable postgresql-client-18 &&
      /usr/sbin/chroot "$root" apt-get clean
  } >"$home/apt.log" 2>&1 || fail apt "postgresql-client-18 from Debian unstable failed to install"
  touch "$root/.complete-18"
fi

for major in 17 18; do
  bin="$home/bin-$major"
  mkdir -p "$bin"
  for program in pg_dump pg_dumpall pg_restore psql; do
    # In a mount namespace of its own, the host's /tmp is bound into the root, so Unix sockets
    # there (the drill's scratch server) are reachable; the mount ends with the process.
    printf '#!/bin/sh\nexec /usr/bin/unshare --mount sh -c %s %q /usr/lib/postgresql/%s/bin/%s "$@"\n' \
      "'mount --bind /tmp \"\$0/tmp\" && exec /usr/sbin/chroot \"\$0\" \"\$@\"'" "$root" "$major" "$program" >"$bin/$program.tmp"
    chmod 755 "$bin/$program.tmp"
    mv "$bin/$program.tmp" "$bin/$program"
  done
  "$bin/pg_dump" --version >&2
done
echo "$home/bin-$want"
