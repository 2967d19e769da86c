"""python -m launchgate.sim --variants FILE --variant NAME [--host H] [--port P] [--set KNOB=VALUE ...]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from launchgate.errors import DataFileError
from launchgate.sim.server import serve
from launchgate.sim.variants import parse_assignments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m launchgate.sim", description="Simulated OpenAI-compatible model server."
    )
    parser.add_argument("--variants", type=Path, required=True, help="variants YAML file")
    parser.add_argument("--variant", required=True, help="variant name in the YAML")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed at start)")
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="KNOB=VALUE",
        help="override a knob, e.g. --set error_rate=0.05 --set fault.after_s=30 (repeatable)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    try:
        overrides = parse_assignments(args.sets)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        serve(args.variants, args.variant, host=args.host, port=args.port, overrides=overrides or None,
              log_level=args.log_level)
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
