"""Reading Psocake's output (and describing any file we know) for the labeler.

``open_run`` returns a :class:`Run` whatever the input: SPI hits file, SFX master or
per-rank file, litPixels file, run folder, glob or list. See docs/inputs.md.
"""
from .describe import FileReport, describe, inspect_file
from .events import (
                     EVENT_DTYPE,
                     concat_event_tables,
                     event_keys,
                     event_table_from_h5,
                     event_table_to_h5,
                     make_event_table,
)
from .opening import open_run
from .runs import Run, RunSet
from .schema import file_kind, kind_words
from .sources import (
                     ConcatSource,
                     H5DatasetSource,
                     ImageSource,
                     NoImageSource,
                     PsanaSource,
)

__all__ = [
    "EVENT_DTYPE", "ConcatSource", "FileReport", "H5DatasetSource", "ImageSource",
    "NoImageSource", "PsanaSource", "Run", "RunSet", "concat_event_tables", "describe",
    "file_kind", "kind_words", "event_keys", "event_table_from_h5", "event_table_to_h5",
    "inspect_file", "make_event_table", "open_run",
]
