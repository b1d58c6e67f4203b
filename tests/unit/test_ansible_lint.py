"""ansible/ passes ansible-lint's production profile and ansible-playbook's syntax check.

Both tools come from the test extra (ansible-core, ansible-lint and the `ansible`
package for the collections the playbook uses: community.docker for the test
connection, community.general, ansible.posix); no Galaxy server is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ANSIBLE = Path(__file__).resolve().parents[2] / "ansible"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}; `make install` installs the test extra")
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    return subprocess.run(args, cwd=ANSIBLE, env=env, capture_output=True, text=True, timeout=300)


def test_syntax_check():
    result = run(tool("ansible-playbook"), "-i", "inventory.example", "--syntax-check", "site.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile():
    result = run(tool("ansible-lint"), "--profile", "production", "--offline", "--nocolor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_every_role_has_a_readme_mirroring_its_defaults():
    """Each variable in defaults/main.yml is named in the role's README (the public interface)."""
    import yaml

    for role in sorted((ANSIBLE / "roles").iterdir()):
        readme = (role / "README.md").read_text(encoding="utf-8")
        defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text(encoding="utf-8"))
        missing = [name for name in defaults if f"`{name}`" not in readme]
        assert not missing, f"{role.name}/README.md does not document {missing}"
        wrong = [name for name in defaults if not name.startswith(f"{role.name}_")]
        assert not wrong, f"{role.name}: variables without the role's prefix: {wrong}"
