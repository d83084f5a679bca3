"""`.env.example` promises to list every setting read from the environment: keep it true."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ = re.compile(r'(?:env_(?:int|float|bool|list)|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"')
LISTED = re.compile(r"^#?\s*([A-Z][A-Z0-9_]+)=", re.M)


def test_every_setting_read_from_the_environment_is_in_env_example():
    read = set(READ.findall((ROOT / "casesite" / "settings.py").read_text()))
    listed = set(LISTED.findall((ROOT / ".env.example").read_text()))
    assert read, "no setting found: the pattern no longer matches settings.py"
    assert sorted(read - listed) == []
