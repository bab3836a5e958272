"""Resource groups of the client (``client.events``, ``client.contacts`` …).

Each group loads on first use (it imports its models): a client that only checks the
balance imports the credits group alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensmor_async._lazy import lazy_attributes
from lensmor_async.resources._base import PageIterator

if TYPE_CHECKING:
    from lensmor_async.resources.actions import Actions
    from lensmor_async.resources.contacts import Contacts
    from lensmor_async.resources.credits import Credits
    from lensmor_async.resources.events import Events
    from lensmor_async.resources.exhibitors import Exhibitors
    from lensmor_async.resources.personnel import Personnel
    from lensmor_async.resources.profile_matching import ProfileMatching

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "Actions": "lensmor_async.resources.actions",
        "Contacts": "lensmor_async.resources.contacts",
        "Credits": "lensmor_async.resources.credits",
        "Events": "lensmor_async.resources.events",
        "Exhibitors": "lensmor_async.resources.exhibitors",
        "Personnel": "lensmor_async.resources.personnel",
        "ProfileMatching": "lensmor_async.resources.profile_matching",
    },
)

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
