from nano.twisted_plugins.nano_core import nano_core  # noqa: F401
