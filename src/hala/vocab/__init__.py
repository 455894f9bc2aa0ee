"""The `vocab.trim` stage: a model whose vocabulary holds only the tokens its language pair needs (see trim.py)."""
