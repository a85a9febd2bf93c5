"""What every Qyzmet command line shares: bad usage is one line on stderr and exit status 2."""

import argparse

USAGE_EXIT = 2


class OneLineParser(argparse.ArgumentParser):
    """Report bad arguments in one line and exit 2."""

    def error(self, message: str):
        """Print the problem on one line to stderr and exit 2."""
        self.exit(USAGE_EXIT, f"{self.prog}: {message}\n")
