"""Run every study quick for the documentation's gallery (``make docs`` calls it).

Each study's quick run goes to ``docs/_build/gallery_runs/NAME/<timestamp>/``;
a study whose latest run is newer than its script is not run again. ``docs/conf.py``
turns the latest run of each into a gallery page.

Usage: ``python docs/gallery.py [NAME ...]`` (default: every study).
"""
from __future__ import annotations

import sys
from pathlib import Path

RUNS = Path(__file__).resolve().parent / "_build" / "gallery_runs"


def latest_run(name: str) -> Path | None:
    """The newest run folder of study ``name`` that finished (it has a summary), or None."""
    runs = sorted(p for p in (RUNS / name).glob("*") if (p / "summary.md").is_file())
    return runs[-1] if runs else None


def main(names: list[str]) -> int:
    from neuroai import cli

    scripts = cli.discover()
    for name in names or list(scripts):
        run = latest_run(name)
        if run is not None and run.stat().st_mtime > scripts[name].stat().st_mtime:
            continue
        print(f"gallery: running {name} --quick", flush=True)
        module = cli.load(name)
        cli.execute(name, module.run, quick=True, seed=0, out=RUNS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
