"""`python -m gencompare ...`; also the `gencompare` console script (see pyproject.toml)."""

import sys

from gencompare.cli import main

if __name__ == "__main__":
    sys.exit(main())
