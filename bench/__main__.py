"""`python -m bench generate|run|inprocess|events|engagement|loyalty ...`: see bench/generate.py,
load.py, inprocess.py, events.py, engagement.py, loyalty.py."""

from __future__ import annotations

import sys


def main() -> None:
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "generate":
        from bench.generate import main as generate

        generate(rest)
    elif command == "events":
        from bench.events import main as events

        events(rest)
    elif command == "engagement":
        from bench.engagement import main as engagement

        engagement(rest)
    elif command == "loyalty":
        from bench.loyalty import main as loyalty

        loyalty(rest)
    elif command == "inprocess":
        from bench.inprocess import main as inprocess

        inprocess(rest)
    elif command == "run":
        from bench.load import main as run

        run(rest)
    else:
        print("usage: python -m bench generate|run|inprocess|events|engagement|loyalty [--help]",
              file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
