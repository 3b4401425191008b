"""A pytest plugin (loaded with -p) that makes a CPU-only torch report two CUDA devices.

Used by tests/test_devices_xdist.py to check, without a GPU, that under pytest-xdist every
device's cells run on exactly one worker and land in one run. Cells on the fake GPUs are skipped
with a 'device' reason (nothing can run there), so they are still recorded with their device.
"""

import torch

from impls import Impl, Reason

FAKE_GPUS = 2

torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: FAKE_GPUS
torch.cuda.get_device_name = lambda device=None: "Fake GPU (test)"
torch.cuda.set_device = lambda device: None

_real_reasons = Impl.not_supported_reasons


def _reasons(self, problem):
    if problem.device_type == "cuda":
        return [Reason("device", f"device={problem.device} is a fake GPU (test plugin)")]
    return _real_reasons(self, problem)


Impl.not_supported_reasons = _reasons
