"""`python -m shared.cli` runs the command line, as the `acestep-studio` script does."""
import sys

from shared.cli import main

sys.exit(main())
