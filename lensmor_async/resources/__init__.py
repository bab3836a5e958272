"""Resource groups of the client (``client.events``, ``client.contacts`` …)."""

from __future__ import annotations

from lensmor_async.resources._base import PageIterator
from lensmor_async.resources.actions import Actions
from lensmor_async.resources.contacts import Contacts
from lensmor_async.resources.credits import Credits
from lensmor_async.resources.events import Events
from lensmor_async.resources.exhibitors import Exhibitors
from lensmor_async.resources.personnel import Personnel
from lensmor_async.resources.profile_matching import ProfileMatching

__all__ = [
    "Actions",
    "Contacts",
    "Credits",
    "Events",
    "Exhibitors",
    "PageIterator",
    "Personnel",
    "ProfileMatching",
]
