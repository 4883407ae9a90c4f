#!/usr/bin/python3
"""Runs, strips and checks the course notebooks (Debian's python3-nbclient and python3-ipykernel).

  nbtool.py run NOTEBOOK [--workdir DIR [--fresh]] [--save FILE] [--timeout S]
      Executes every cell headless in a fresh kernel, with DIR (default: a new temporary folder;
      --fresh empties it first) as the working directory, so that what the notebook writes (traces,
      runs) stays out of the source tree. Fails (exit 1) on the first cell that raises, printing that cell and the error.
      The kernel finds seektrace.py next to the notebook, `seek` through $SEEK and data/ through
      $SEEK_DATA (defaults: ../build/seek and ../data, from the notebook's own folder).
      --save writes the executed notebook, outputs included (for reading, not for committing).
  nbtool.py strip NOTEBOOK...
      Removes outputs and execution counts in place: notebooks are committed without outputs, so
      that a diff shows only what changed in the code and the text.
  nbtool.py check-clean NOTEBOOK...
      Exit 1 if any notebook has outputs or execution counts (the docs tests run this).

Always run with /usr/bin/python3: another python3 earlier on PATH cannot see Debian's packages.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

import nbformat


def stripped(notebook):
    changed = False
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            changed = True
        cell["outputs"] = []
        cell["execution_count"] = None
        for key in ("execution", "collapsed", "scrolled"):
            if cell.metadata.pop(key, None) is not None:
                changed = True
    return changed


def run(path, workdir, save, timeout, fresh):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    here = os.path.dirname(os.path.abspath(path))
    # The kernel runs in workdir, so the notebook's defaults (../build/seek, ../data) would point
    # nowhere: pin them to this checkout unless the caller chose.
    os.environ.setdefault("SEEK", os.path.join(here, "..", "build", "seek"))
    os.environ.setdefault("SEEK_DATA", os.path.join(here, "..", "data"))
    os.environ["SEEK"] = os.path.abspath(os.environ["SEEK"])
    os.environ["SEEK_DATA"] = os.path.abspath(os.environ["SEEK_DATA"])
    os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger note about frozen modules
    if os.environ.get("SEEK_FIGURES"):
        os.environ["SEEK_FIGURES"] = os.path.abspath(os.environ["SEEK_FIGURES"])

    notebook = nbformat.read(path, as_version=4)
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="seek-notebook-")
    elif fresh and os.path.isdir(workdir):
        shutil.rmtree(workdir)  # a run left by an earlier test: `seek train --out` refuses to overwrite one
    os.makedirs(workdir, exist_ok=True)
    os.environ["SEEK_NOTEBOOK_WORKDIR"] = os.path.abspath(workdir)  # seektrace.start() stays there
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": os.path.abspath(workdir)}})
    ok = True
    try:
        client.execute()
    except CellExecutionError as error:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the kernel's traceback comes with terminal colours
        print(f"{path}: a cell failed\n{plain}", file=sys.stderr)
        ok = False
    if save:
        nbformat.write(notebook, save)
    code_cells = sum(1 for cell in notebook.cells if cell.cell_type == "code")
    if ok:
        print(f"{path}: {code_cells} code cells ran without error (working directory {workdir})")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run")
    run_parser.add_argument("notebook")
    run_parser.add_argument("--workdir")
    run_parser.add_argument("--save")
    run_parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    run_parser.add_argument("--fresh", action="store_true", help="empty --workdir first")
    for name in ("strip", "check-clean"):
        sub.add_parser(name).add_argument("notebooks", nargs="+")
    args = parser.parse_args()

    if args.command == "run":
        return run(args.notebook, args.workdir, args.save, args.timeout, args.fresh)
    status = 0
    for path in args.notebooks:
        notebook = nbformat.read(path, as_version=4)
        if stripped(notebook):
            if args.command == "strip":
                nbformat.write(notebook, path)
                print(f"{path}: outputs removed")
            else:
                print(f"{path}: has outputs or execution counts (run notebooks/nbtool.py strip {path})", file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
