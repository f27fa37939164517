"""`python -m camerapose` is the `camerapose` command."""

import sys

from camerapose.cli import main  # its first lines make Ctrl-C exit 130, before any heavy import

sys.exit(main())
