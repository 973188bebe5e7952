#!/usr/bin/env bash
# Debian's Python packages alone, for python/ (the ctr package, ctr-plot and their tests,
# which ctest runs under the label python) and tools/ (PyTorch fixtures, benchmarks
# against PyTorch). scripts/setup.sh installs them too, with everything else. Not needed
# to build ctr.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${CTR_PYTHON_PACKAGES[@]}"
