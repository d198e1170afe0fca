"""d365leads: the Dynamics 365 Sales lead lifecycle over the Dataverse Web API."""

from d365leads._version import __version__

__all__ = ["__version__"]
