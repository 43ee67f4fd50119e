"""The benchmark report: `report.md` with PNG plots, built from run_all's `results.json`.

`write_report(results, out_dir)` is what `bench.run_all` calls; `python -m bench.report
[results.json]` rebuilds the report from a saved run.
"""

from __future__ import annotations

from bench.report.render import write_report

__all__ = ["write_report"]
