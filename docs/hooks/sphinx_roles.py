"""MkDocs hook: render Sphinx roles in docstrings (``:class:`~a.B``` → ``B``) as plain code.

The package's docstrings use Sphinx cross-reference roles, which Markdown would show
literally (":class:" before the name). This keeps the name, drops the role, and shortens
``~``-prefixed targets to their last component, as Sphinx does.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|attr|data|exc|mod|obj|const):<code>(?P<tilde>~?)(?P<target>[^<]*)</code>"
)


def _plain(match: re.Match[str]) -> str:
    target = match["target"]
    if match["tilde"]:
        target = target.rsplit(".", 1)[-1]
    return f"<code>{target}</code>"


def render_roles(html: str) -> str:
    """Replace every rendered Sphinx role with the code span of its target."""
    return _ROLE.sub(_plain, html)


def on_page_content(html: str, **kwargs: Any) -> str:
    """MkDocs event: runs on each page's HTML before the search index reads it."""
    return render_roles(html)
