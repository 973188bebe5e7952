#!/usr/bin/env bash
# Debian's Python packages for tools/ (PyTorch fixtures, benchmarks against PyTorch,
# plots). Not needed to build ctr or to run its tests.
set -euo pipefail
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch python3-h5py python3-numpy python3-matplotlib
