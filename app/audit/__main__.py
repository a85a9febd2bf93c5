"""Verify Qyzmet's audit files offline, without Flask or the database (for an outside party).

    python -m app.audit verify-checkpoint checkpoint-12.xml --ca ca-chain.pem [--crl crl.pem]
    python -m app.audit verify-archive ARCHIVE_DIR --ca ca-chain.pem [--crl crl.pem]

Exit 0 valid, 1 invalid (with the reason, or the cases that differ), 2 unreadable input.
"""

import sys
from pathlib import Path

from app.audit import archive
from app.audit import checkpoints
from handlers.cli import USAGE_EXIT
from handlers.cli import OneLineParser

PROG = "python -m app.audit"


def _parse_args(argv):
    parser = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, target in (("verify-checkpoint", "file"), ("verify-archive", "folder")):
        command = commands.add_parser(name)
        command.add_argument(target)
        command.add_argument("--ca", required=True, help="PEM chain of the trusted NCA CAs")
        command.add_argument("--crl", help="the NCA CRL; default crl.pem beside --ca")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one verification; print its lines; return the exit code."""
    args = _parse_args(argv)
    try:
        if args.command == "verify-checkpoint":
            result = checkpoints.verify_file(checkpoints.read_input(args.file), args.ca, args.crl)
            code, lines = checkpoints.verdict_lines(result)
        else:
            verdict = archive.verify(Path(args.folder), args.ca, args.crl)
            code, lines = archive.verdict_lines(verdict)
    except (checkpoints.Unreadable, archive.ArchiveError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return USAGE_EXIT
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
