"""Test-wide setup: import roots and a quiet, hermetic environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The training code runs with its own folder as the import root (SageMaker script mode); tests
# import it the same way. Lambda handlers are the `lambdas` package, in the asset and here.
if str(REPO_ROOT / "training_code") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "training_code"))
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("KERAS_HOME", str(REPO_ROOT / ".keras"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# No test may reach AWS: fake credentials and a fixed region.
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(key, value)
