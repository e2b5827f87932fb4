"""What every inference runner does first: read capture's options and find the model."""

from typing import Any, Dict

from .. import models
from .base import Implementation


class ModelRunner(Implementation):
    """Base of the infer plugins: one place that turns options into settings and a model."""

    stage = "infer"

    def resolve(self, options: Dict[str, Any]) -> "models.RunnerSettings":
        """Set ``self.settings`` and ``self.source`` (every form of the model); return settings.

        Raises models.ModelError (an Unavailable) naming the file when the model is missing.
        """
        self.settings = models.RunnerSettings(options)
        self.source = models.resolve_model(self.settings.model)
        return self.settings
