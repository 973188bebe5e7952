#!/usr/bin/env bash
# Installs every Debian 12 package ctr needs (idempotent; run as root), then configures
# and builds ctr in build/ (Release). The Python packages serve python/ and tools/ (and
# their tests); slurm-wlm and munge the single-node cluster the Slurm test starts
# (scripts/slurm-up.sh); ffmpeg the MP4 movie of ctr-plot. When everything is installed,
# no apt-get runs at all.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config git libeigen3-dev libboost-program-options-dev libboost-dev
          libhdf5-dev hdf5-tools libyaml-cpp-dev libdeflate-dev catch2
          slurm-wlm munge ffmpeg
          python3 python3-h5py python3-numpy python3-xarray python3-h5netcdf python3-pandas
          python3-matplotlib python3-pil python3-torch python3-yaml)
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
