"""The ``airlock`` command installed with the Python package.

It runs the same command line as the Rust binary, inside this interpreter
(``_native.cli_main``). Two commands need care there:

- ``airlock run`` starts the sandbox from this process: the sandbox forks,
  which is only sound in a process with a single thread. The interpreter
  that runs this script has one (nothing imported here starts a thread), and
  the sandbox checks it (``/proc/self/status``) and refuses otherwise, so
  calling ``cli_main`` from a program with threads fails with a message
  instead of forking.
- ``airlock convert --sandbox`` starts ``airlock run`` as a process of its
  own. The Rust binary starts its own executable again; here that
  executable is the Python interpreter, so the command to start is given
  to ``cli_main``: this interpreter, in isolated mode (``-I``: neither the
  working directory, ``PYTHONPATH`` nor the user's site-packages can put
  another ``airlock`` first), running :func:`main` of this very package
  (``RELAUNCH`` checks that it imported that one).
"""

import os
import sys
from typing import List

from . import _native

# Run as `python -I -c RELAUNCH PACKAGE_PARENT ARGS...`. The folder holding
# this package is added after the interpreter's own paths (it is usually
# one of them: the venv's site-packages), and the package imported must be
# the one in it.
RELAUNCH = """
import os, sys
parent = sys.argv.pop(1)
if parent not in sys.path:
    sys.path.append(parent)
import airlock._cli
if not os.path.samefile(os.path.dirname(os.path.dirname(airlock._cli.__file__)), parent):
    sys.exit(f"airlock: {airlock._cli.__file__} is not the airlock package of {parent}")
airlock._cli.main()
"""


def launcher() -> List[str]:
    """The command that starts this command line again; ``airlock``'s
    arguments follow it."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [sys.executable, "-I", "-c", RELAUNCH, parent]


def main() -> None:
    """Run the airlock command line (the same as the Rust binary)."""
    argv = ["airlock"] + sys.argv[1:]
    sys.exit(_native.cli_main(argv, launcher()))


if __name__ == "__main__":
    main()
