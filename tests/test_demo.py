"""``python -m symgrad demo`` runs in a fresh interpreter, exits 0 and prints the circuit's
values worked out by hand: f = (x + y) z = -12 at (-2, 5, -4), gradient (z, z, x + y) = (-4, -4, 3)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_command():
    done = subprocess.run([sys.executable, "-m", "symgrad", "demo"], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    values = re.search(r"f = (\S+), \(df/dx, df/dy, df/dz\) = \((\S+), (\S+), (\S+)\)", out)
    assert values, out
    assert [float(v) for v in values.groups()] == [-12.0, -4.0, -4.0, 3.0]
    fell = re.search(r"Loss fell from (\S+) to (\S+)\.", out)
    assert fell and float(fell.group(2)) < float(fell.group(1)), out
