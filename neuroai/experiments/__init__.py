"""Running studies: the results folder of a run (:class:`RunRecord`)."""
from .records import RunRecord, atomic_write, markdown_table, versions

__all__ = ["RunRecord", "atomic_write", "markdown_table", "versions"]
