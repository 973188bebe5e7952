#!/usr/bin/env bash
# Debian's Python packages alone, for python/ (the ctr package, ctr-plot and their tests,
# which ctest runs under the label python) and tools/ (PyTorch fixtures, benchmarks
# against PyTorch). scripts/setup.sh installs them too, with everything else. Not needed
# to build ctr.
set -euo pipefail
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-h5py python3-numpy \
  python3-xarray python3-h5netcdf python3-pandas python3-matplotlib python3-pil python3-torch python3-yaml
