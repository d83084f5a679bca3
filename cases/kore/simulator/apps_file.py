"""The apps file: how a simulator in another process learns JWT apps and template names (the
dev site's simulator reads it; ``prepare_demo`` writes it). It belongs to the simulator, i.e. to
"Kore", not to the portal."""

from __future__ import annotations

import json
from pathlib import Path


def _read(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}


def load_apps_file(path: Path) -> list[dict]:
    return _read(path).get("apps", [])


def load_templates_file(path: Path) -> list[dict]:
    return _read(path).get("templates", [])


def _write(path: Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2))
    temporary.chmod(0o600)
    temporary.replace(path)


def register_app_in_file(
    path: Path, *, client_id: str, secret: str, stream_ids: list[str] | None = None
) -> None:
    """Add or update an app in the apps file."""
    data = _read(path)
    apps = [app for app in data.get("apps", []) if app.get("client_id") != client_id]
    apps.append({"client_id": client_id, "secret": secret, "stream_ids": stream_ids})
    _write(path, {**data, "apps": apps})


def register_template_in_file(path: Path, *, stream_id: str, template_id: str, name: str) -> None:
    """Add or rename a case template of a stream: Kore answers ``caseTmp`` with its name."""
    data = _read(path)
    templates = [
        item
        for item in data.get("templates", [])
        if (item.get("stream_id"), item.get("template_id")) != (stream_id, template_id)
    ]
    templates.append({"stream_id": stream_id, "template_id": template_id, "name": name})
    _write(path, {**data, "templates": templates})
