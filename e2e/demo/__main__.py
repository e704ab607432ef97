"""``python -m demo [--once]`` (run from ``e2e/`` or with it on ``PYTHONPATH``): what
``./scripts/demo`` runs after installing and building what the demo needs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo.tour import run  # noqa: E402


def main() -> int:
    """Parse the options and run the demo; the exit status is the tour's."""
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Start a private Matrix federation behind mxgate on loopback and narrate a tour.",
        epilog="Examples:\n  ./scripts/demo          # tour, then keep running until Ctrl-C\n"
        "  ./scripts/demo --once   # tour, then exit: 0 iff every step went as expected",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--once", action="store_true", help="exit after the tour (status 0 iff every step matched)")
    return run(once=parser.parse_args().once)


if __name__ == "__main__":
    sys.exit(main())
