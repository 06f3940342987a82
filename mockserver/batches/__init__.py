"""Message Batches with durable state: create, poll, cancel, expire, delete, stream results.

``store`` (SQLite), ``processor`` (the background task answering items through the responder
pipeline), ``handlers`` (the six endpoints), ``envelope`` and ``objects`` (the wire format).
"""

from mockserver.batches.store import MEMORY, default_data_dir

__all__ = ["MEMORY", "default_data_dir"]
