from .cli import run

# Guarded: capture's worker processes (spawn) import the parent's main module again.
if __name__ == "__main__":
    run()
