"""The measuring runtime: how one cell (an implementation on a problem) is prepared, timed and recorded.

Kept light on purpose: the pytest plugin (``bench.plugin``) is loaded by every pytest run of an
environment where attnbench is installed, so nothing here imports torch until a sweep asks for it.
"""
