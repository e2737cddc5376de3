"""The Docker-free local stack: `python -m local` runs template.yaml's API and queues on
an embedded AWS (moto). LocalStack starts it in-process, for end-to-end tests.

The functions' code root and the layer are importable as on Lambda (/var/task and
/opt/python): `from auth import logic`, `from twittnow import repositories`.
"""

import sys
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
LAYER_DIR = FUNCTIONS_DIR.parent / "layers" / "common"

for _code_root in (FUNCTIONS_DIR, LAYER_DIR):
    if str(_code_root) not in sys.path:
        sys.path.append(str(_code_root))
