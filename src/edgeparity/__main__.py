import sys

from .cli import main

# Guarded: capture's worker processes (spawn) import the parent's main module again.
if __name__ == "__main__":
    sys.exit(main())
