"""`python -m depthviewer` is the `depthviewer` command."""

import sys

from depthviewer.cli import main

sys.exit(main())
