"""edgeparity: find where and why two environments disagree on the same input."""

__version__ = "0.1.0"
