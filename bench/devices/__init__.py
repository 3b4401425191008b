"""Devices: CUDA-event timing, SM clocks, measured peaks, one device owner per pytest-xdist worker."""
