"""teaching-via-data: a teacher language model writes annotated training data for a small, fast student."""

__version__ = "0.1.0"
