"""Registers the attnbench pytest plugin (bench/plugin.py) when the installed package's entry point has not."""


def pytest_addhooks(pluginmanager):
    import bench.plugin

    if not pluginmanager.is_registered(bench.plugin):
        pluginmanager.register(bench.plugin, "attnbench")
