"""The app imports the libraries Streamlit loads lazily once, under a lock, before any page draws."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Eight "first visits" at once in a fresh interpreter: each calls preload() and then uses what it imported.
SCRIPT = """
import sys, threading
from ui.preload import preload
assert "pandas" not in sys.modules and "pyarrow" not in sys.modules
results, barrier = [], threading.Barrier(8)
def visit():
    barrier.wait()
    preload()
    import pandas, pyarrow, plotly.graph_objects as go
    results.append((pandas.DataFrame({"a": [1]}).shape, pyarrow.array([1]).type == pyarrow.int64(),
                    type(go.Figure()).__name__))
threads = [threading.Thread(target=visit) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
print(sorted(set(map(str, results))), len(results))
"""


def test_concurrent_first_visits_all_get_finished_modules():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[\"((1, 1), True, 'Figure')\"] 8"


def test_the_app_preloads_before_it_configures_the_page():
    lines = (ROOT / "app.py").read_text().splitlines()
    assert lines.index("preload()  # before any page draws a chart or a table: see ui/preload.py") \
        < next(i for i, line in enumerate(lines) if line.startswith("st.set_page_config("))
