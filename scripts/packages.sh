# The Debian 12 packages ctr needs, in one place: sourced by scripts/setup.sh (all of
# them) and scripts/python-deps.sh (the Python ones alone).
# Build: compiler, CMake, the libraries; hdf5-tools for h5dump.
CTR_BUILD_PACKAGES=(build-essential cmake pkg-config git libeigen3-dev libboost-program-options-dev libboost-dev
                    libhdf5-dev hdf5-tools libyaml-cpp-dev libdeflate-dev catch2)
# The single-node cluster of the Slurm test (scripts/slurm-up.sh); ffmpeg for ctr-plot's MP4.
CTR_SYSTEM_PACKAGES=(slurm-wlm munge ffmpeg)
# python/ (the ctr package, ctr-plot and their tests) and tools/ (PyTorch fixtures, benchmarks).
CTR_PYTHON_PACKAGES=(python3 python3-h5py python3-numpy python3-xarray python3-h5netcdf python3-pandas
                     python3-matplotlib python3-pil python3-torch python3-yaml)
