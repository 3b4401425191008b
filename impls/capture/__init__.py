"""Capture q, k, v from a model's scaled_dot_product_attention calls; the captured-set file format."""

from .fileformat import FORMAT, read_captured, read_metadata, write_captured
from .recorder import SdpaCall, SdpaRecorder, record_sdpa_calls

__all__ = ["FORMAT", "read_captured", "read_metadata", "write_captured", "SdpaCall", "SdpaRecorder", "record_sdpa_calls"]
