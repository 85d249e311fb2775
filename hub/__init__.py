"""grassroots-hub: the provincial centre of a grassroots information system."""

import pluggy

__version__ = "0.1.0"

#: Decorator for plugin hook implementations: ``@hookimpl def hub_register_renderers(): ...``
hookimpl = pluggy.HookimplMarker("hub")

__all__ = ["hookimpl", "__version__"]
