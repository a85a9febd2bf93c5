"""Run the reference state systems: python -m reference --port 5001 --database sqlite:///..."""

import argparse
import sys

from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from handlers.cli import USAGE_EXIT
from handlers.cli import OneLineParser
from reference import create_app
from reference import nca
from reference.server import HOST

try:  # waitress is the production server; werkzeug's will do without it
    import waitress
except ImportError:  # pragma: no cover - waitress is a project dependency
    waitress = None



def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the parsed command line; exit 2 on bad arguments."""
    parser = OneLineParser(prog="python -m reference",
                            description="Serve the reference state systems on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=5001, help="TCP port (0 = any free port)")
    parser.add_argument("--database", default="sqlite:///instance/reference.sqlite",
                        help="SQLAlchemy URL of the systems' own database")
    parser.add_argument("--faults", action="store_true", help="also serve /_control/faults")
    parser.add_argument("--pki", default=None,
                        help="folder of the reference NCA's PKI (created if missing); serves /nca")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"argument --port: {args.port} is not a port number (0-65535)")
    return args


def _serve(app, port: int) -> None:
    """Serve app with waitress if installed, else werkzeug, printing the URL once."""
    if waitress is None:
        server = make_server(HOST, port, app, threaded=True)
        print(f"reference systems at http://{HOST}:{server.server_port}", flush=True)
        server.serve_forever()
        return
    server = waitress.create_server(app, host=HOST, port=port)
    print(f"reference systems at http://{HOST}:{server.effective_port}", flush=True)
    server.run()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the app and serve it until killed."""
    args = parse_args(argv)
    try:
        extra = [nca.create_blueprint(args.pki)] if args.pki else []
        app = create_app(args.database, faults=args.faults, extra_blueprints=extra)
    except (ArgumentError, OperationalError) as error:
        print(f"python -m reference: cannot open --database: {error}".splitlines()[0],
              file=sys.stderr)
        return USAGE_EXIT
    try:
        _serve(app, args.port)
    except OSError as error:
        print(f"python -m reference: cannot listen on port {args.port}: {error}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
