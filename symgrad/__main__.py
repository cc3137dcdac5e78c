"""Command line: ``python -m symgrad demo``, ``diff``, ``grad``, ``hessian`` (``--help``)."""
from __future__ import annotations

import argparse
import sys

from . import cli


def main(argv=None) -> int:
    """Run ``python -m symgrad``; bad input exits with status 2 and a message.

    >>> main(["grad", "(x + y)*z", "--wrt", "x,y,z", "--at", "x=-2,y=5,z=-4"])
    """
    parser = argparse.ArgumentParser(prog="python -m symgrad",
                                     description="symbol-to-symbol differentiation")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="the (x+y)z circuit and a small network trained with "
                                     "its compiled gradient")
    cli.add_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import main as demo
        demo()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
