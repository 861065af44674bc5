from nano.twisted_plugins.nano_cell import nano_cell  # noqa: F401
from nano.twisted_plugins.nano_core import nano_core  # noqa: F401
