"""The docker backend: engine.py (which engine, is it reachable), image.py (how an image is
built and tagged), container.py (how it is run), backend.py (the Backend both use)."""

from .backend import DockerBackend
from .engine import DockerError, Engine, engine_reachable

__all__ = ["DockerBackend", "DockerError", "Engine", "engine_reachable"]
