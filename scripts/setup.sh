#!/usr/bin/env bash
# Installs every Debian 12 package ctr needs (idempotent; run as root), then configures
# and builds ctr in build/ (Release). The packages, and what each serves, are listed in
# scripts/packages.sh. When everything is installed, no apt-get runs at all.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/packages.sh
packages=("${CTR_BUILD_PACKAGES[@]}" "${CTR_SYSTEM_PACKAGES[@]}" "${CTR_PYTHON_PACKAGES[@]}")
# One dpkg-query for all: the installed ones print "NAME install ok installed".
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null | awk '/ install ok installed$/ {print $1}' || true)
missing=()
for p in "${packages[@]}"; do
  grep -qx "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run this script as root (or install them)" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
