"""docs/architecture.md stays true: every module path it names exists, and every `path:name` names something
defined in that module."""

import re

from tests.conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "architecture.md"
REFERENCE = re.compile(r"`((?:webapp|ml|bench|tests)/[\w/]+\.py)(?::(\w+))?`")


def test_every_module_path_in_the_architecture_map_exists():
    references = REFERENCE.findall(DOC.read_text())
    assert len(references) > 20
    missing = [path for path, _ in references if not (REPO_ROOT / path).is_file()]
    assert missing == []


def test_every_named_function_or_constant_is_defined_in_its_module():
    undefined = []
    for path, name in REFERENCE.findall(DOC.read_text()):
        if name and (REPO_ROOT / path).is_file():
            source = (REPO_ROOT / path).read_text()
            if not re.search(rf"^\s*(?:def|class)\s+{name}\b|^\s*{name}\s*[:=]", source, re.M):
                undefined.append(f"{path}:{name}")
    assert undefined == []
