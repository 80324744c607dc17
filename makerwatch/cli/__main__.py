"""`python -m makerwatch.cli ...`: the same as the installed `makerwatch` command."""

import sys

from makerwatch.cli import main

sys.exit(main())
