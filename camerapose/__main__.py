"""`python -m camerapose` is the `camerapose` command."""

import sys

from camerapose.cli import main

sys.exit(main())
