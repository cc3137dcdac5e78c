"""Command line: ``python -m symgrad demo`` (more commands: ``--help``)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m symgrad",
                                     description="symbol-to-symbol differentiation")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="the (x+y)z circuit and a small network trained with "
                                     "its compiled gradient")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import main as demo
        demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
