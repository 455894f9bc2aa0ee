"""hala — translate-and-tune toolkit (see README.md and docs/ARCHITECTURE.md)."""

__version__ = "0.1.0"
