"""``python -m aiva.cli``."""
import sys

from aiva.cli import main

sys.exit(main())
