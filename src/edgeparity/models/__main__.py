"""``python -m edgeparity.models``: build the demo DLR artifact now and print where it is.

For a Dockerfile, where a compiler exists at build time but not at run time (the image sets
EDGEPARITY_CACHE_DIR so that runs find the artifact). Takes no arguments.
"""

import sys
from typing import List, Optional

from ..stages.base import Unavailable
from .dlr import build_demo_dlr_artifact


def main(argv: Optional[List[str]] = None) -> int:
    try:
        print(build_demo_dlr_artifact())
    except Unavailable as exc:
        print("edgeparity: {}".format(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
