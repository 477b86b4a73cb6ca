"""The ``airlock`` command installed with the Python package."""

import sys

from . import _native


def main() -> None:
    """Run the airlock command line (the same as the Rust binary)."""
    argv = ["airlock"] + sys.argv[1:]
    sys.exit(_native.cli_main(argv))


if __name__ == "__main__":
    main()
