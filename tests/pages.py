"""What a served page may load: only the portal's own assets, never a CDN's."""

from __future__ import annotations

import re

# src/href values that leave the portal: scheme-relative ("//host/...") or absolute http(s).
_REMOTE_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
_REMOTE_IMPORT = re.compile(r"""@import\s+(?:url\()?["']?(?:https?:)?//""", re.IGNORECASE)


def remote_assets(html: str) -> list[str]:
    """Every src/href/@import in the page that points off the portal.

    Searching the page for "cdn" failed now and then: a random CSRF token can contain it.
    """
    return [m.group(0) for pattern in (_REMOTE_ASSET, _REMOTE_IMPORT) for m in pattern.finditer(html)]
