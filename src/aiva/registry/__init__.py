"""Model registry and objective updates (``aiva registry``, ``aiva update``)."""
from aiva.registry.store import Registry, default_root
from aiva.registry.update import UpdateConfig, update, watch

__all__ = ["Registry", "UpdateConfig", "default_root", "update", "watch"]
