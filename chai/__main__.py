"""``python -m chai``: the same as the ``chai`` console script."""

import sys

from chai.cli import main

sys.exit(main())
