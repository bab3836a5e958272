"""A web app that confirms spending with the SDK's two-phase quotes (see ``app.py``)."""

from __future__ import annotations

from examples.webapp.app import (
    WEBAPP,
    Offer,
    PendingQuote,
    QuoteBook,
    Receipt,
    Settings,
    Webapp,
    create_app,
    decline_unapproved,
    main,
    offer_of,
)

__all__ = [
    "WEBAPP",
    "Offer",
    "PendingQuote",
    "QuoteBook",
    "Receipt",
    "Settings",
    "Webapp",
    "create_app",
    "decline_unapproved",
    "main",
    "offer_of",
]
