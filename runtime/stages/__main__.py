"""`python -m camerapose.runtime.stages NAME RUN_DIR`: one stage process (see the package docstring)."""

import sys

import numpy as np

from camerapose.runtime.stages import main

if __name__ == "__main__":  # importing the module (a package walk) must not start a stage
    np.seterr(all="ignore")
    sys.exit(main(sys.argv[1:]))
