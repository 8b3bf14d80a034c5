"""The web process loads Django and the app, not the ML stack: torch, faiss, scikit-learn and SciPy
cost a web worker hundreds of MiB it never uses (they run in the Celery workers).

Checked in a fresh interpreter, since the test process itself has imported them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

HEAVY = ("torch", "torchvision", "faiss", "sklearn", "scipy", "cv2", "onnxruntime", "av")

PROBE = """
import json, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # every view module, as a worker's first request imports them
import webapp.wsgi
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_the_web_app_with_every_url_loaded_imports_no_ml_library():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "DJANGO_DEBUG": "1", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
