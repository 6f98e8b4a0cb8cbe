"""The ``neuroai`` command.

::

    neuroai list                                   the simulations and what each does
    neuroai run NAME [--quick] [--seed N] [--out DIR]
    neuroai backends                               the backends' capability matrix

Simulations are the files ``simulations/NAME.py`` of the repository (the
folder next to the ``neuroai`` package), which an installed wheel carries as
``neuroai/studies/``; set ``NEUROAI_SIMULATIONS`` to use another folder. A
simulation module follows one convention:

- its docstring's first line says what it does (``neuroai list`` shows it);
- it defines ``run(record, *, quick, seed) -> dict``: ``record`` is the
  :class:`neuroai.experiments.RunRecord` to write ``config.json``,
  ``metrics.csv``, figures and ``summary.md`` into; ``quick`` asks for a
  short version (well under a minute); ``seed`` seeds everything random. It
  prints its result table and returns its headline metrics;
- it may define ``add_arguments(parser)`` to add its own command-line
  options; their values reach ``run`` as keyword arguments (both from
  ``neuroai run NAME --option ...`` and from the script);
- it ends with ``if __name__ == "__main__": raise SystemExit(script_main(run))``
  (``from neuroai.cli import script_main``), so that
  ``python simulations/NAME.py [--quick] [--seed N] [--out DIR]`` works too.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import logging
import os
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

from . import validation as check
from .experiments import RunRecord, SweepFailed

SimulationFn = Callable[..., dict]


def simulations_dir() -> Path:
    """``$NEUROAI_SIMULATIONS``, else the studies an installed wheel carries
    (``neuroai/studies/``), else ``simulations/`` in the repository root."""
    override = os.environ.get("NEUROAI_SIMULATIONS")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent / "studies"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[1] / "simulations"


def discover() -> dict[str, Path]:
    """Simulation name -> script path, sorted by name (``_*.py`` skipped)."""
    folder = simulations_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.py")) if not p.stem.startswith("_")}


def description(path: Path) -> str:
    """First line of the script's docstring, read without running it."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return doc.strip().splitlines()[0] if doc else "(no description)"


def load(name: str) -> ModuleType:
    """Import simulation ``name`` from its file; KeyError if there is none."""
    scripts = discover()
    if name not in scripts:
        raise KeyError(name)
    spec = importlib.util.spec_from_file_location(f"neuroai_simulations.{name}", scripts[name])
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up here, and pickle (sweeps on a process pool) imports it by name
    sys.modules.setdefault("neuroai_simulations", ModuleType("neuroai_simulations"))
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise TypeError(f"simulation {name!r} ({scripts[name]}) defines no run(record, *, quick, seed) function")
    return module


def execute(name: str, run: SimulationFn, *, quick: bool = False, seed: int = 0,
            out: str | Path = "runs", **options) -> tuple[RunRecord, dict]:
    """Run one simulation into a fresh ``RunRecord`` under ``out``; returns
    the record and the metrics ``run`` returned. ``options`` are the
    simulation's own (see ``add_arguments``)."""
    record = RunRecord(name, out)
    metrics = run(record, quick=quick, seed=seed, **options)
    logging.getLogger("neuroai").info("results: %s", record.path)
    return record, metrics


def _seed(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) > check.MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {check.MAX_SEED}, got {text!r}")
    return int(text)


def count(text: str) -> int:
    """argparse ``type`` of a study's option that counts something (neurons, passes, images): a whole
    number >= 1, else a usage error naming the option."""
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="short version, well under a minute")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of everything random (default 0)")
    parser.add_argument("--out", default="runs", help="root folder of the results (default ./runs)")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    verbosity.add_argument("--verbose", action="store_true", help="also print neuroai's debugging messages")


def _configure_logging(quiet: bool, verbose: bool) -> None:
    """The ``neuroai`` logger's messages on stderr: INFO and above (``quiet``: WARNING, ``verbose``: DEBUG)."""
    logger = logging.getLogger("neuroai")
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("neuroai: %(message)s"))
        logger.addHandler(handler)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time of each message."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # (StreamHandler sets it; the current sys.stderr is always used)
        pass


_MARKUP = [  # (pattern, replacement): reStructuredText and Markdown markup -> plain text
    (re.compile(r":\w+:`~?(?:[\w.]+\.)?([^`<]+?)`"), r"\1"),  # :class:`~a.b.C` -> C, :math:`x` -> x
    (re.compile(r"``([^`]+)``"), r"\1"),
    (re.compile(r"`([^`]+)`_?"), r"\1"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"\1"),
    (re.compile(r"^\.\. \w+::\s*$", re.M), ""),
]


def plain_text(doc: str | None) -> str:
    """A docstring as plain text for a terminal: inline markup of reStructuredText and Markdown removed."""
    text = doc or ""
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return text


def _execute_with(module: ModuleType, name: str, prog: str, argv: list[str] | None) -> int:
    """Parse the shared run options and the module's own, then run it."""
    parser = argparse.ArgumentParser(prog=prog, description=plain_text(module.__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_options(parser)
    if callable(getattr(module, "add_arguments", None)):
        module.add_arguments(parser)
    options = vars(parser.parse_args(argv))
    quick, seed, out = options.pop("quick"), options.pop("seed"), options.pop("out")
    quiet, verbose = options.pop("quiet"), options.pop("verbose")
    _configure_logging(quiet, verbose)
    try:
        check.writable_folder(prog, "--out", out)
    except ValueError as err:  # (a NUL byte in the path: os's own ValueError)
        print(err if str(err).startswith(prog) else
              f"{prog}: parameter '--out' must be a folder that can be created, got {out!r} ({err})", file=sys.stderr)
        return 2
    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            execute(name, module.run, quick=quick, seed=seed, out=out, **options)
    except (ImportError, SweepFailed) as err:  # a missing extra, or nothing that ran: no results to show
        print(f"{prog}: cannot run: {err}", file=sys.stderr)
        return 1
    return 0


def script_main(run: SimulationFn, argv: list[str] | None = None) -> int:
    """Command line of a simulation script run as ``python simulations/NAME.py``;
    NAME and the help text come from ``run``'s module."""
    module = sys.modules[run.__module__]
    name = Path(module.__file__).stem
    return _execute_with(module, name, f"{name}.py", argv)


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="neuroai", description="Run neuroai simulations and inspect backends.")
    parser.add_argument("--version", action="version", version=f"neuroai {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="list the simulations with their descriptions")
    run = commands.add_parser("run", help="run one simulation; results go to OUT/NAME/<timestamp>/")
    run.add_argument("name", metavar="NAME", help="simulation name (see `neuroai list`)")
    run.add_argument("options", nargs=argparse.REMAINDER,
                     help="--quick, --seed N, --out DIR and the simulation's own options (`neuroai run NAME -h`)")
    commands.add_parser("backends", help="print the capability matrix of the backends (Markdown)")
    return parser


def _list() -> int:
    scripts = discover()
    if not scripts:
        print(f"no simulations found in {simulations_dir()} (set NEUROAI_SIMULATIONS)", file=sys.stderr)
        return 1
    width = max(map(len, scripts))
    for name, path in scripts.items():
        print(f"{name:<{width}}  {description(path)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        module = load(args.name)
    except ImportError as err:  # the study imports an extra that is not installed
        print(f"neuroai run {args.name}: cannot run: {err}", file=sys.stderr)
        return 1
    except KeyError:
        known = ", ".join(discover()) or "none"
        print(f"neuroai: unknown simulation {args.name!r}; known simulations in {simulations_dir()}: {known}",
              file=sys.stderr)
        return 2
    except TypeError as err:  # the file defines no run function
        print(f"neuroai run {args.name}: cannot run: {err}", file=sys.stderr)
        return 1
    return _execute_with(module, args.name, f"neuroai run {args.name}", args.options)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neuroai`` command; returns the exit code."""
    if argv is not None and (not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv)):
        raise TypeError(f"neuroai.cli.main: parameter 'argv' must be a list of strings (or None: sys.argv), "
                        f"got {argv!r}")
    args = _parser().parse_args(argv)
    if args.command == "list":
        return _list()
    if args.command == "run":
        return _run(args)
    from .backends import matrix_table

    print(matrix_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
