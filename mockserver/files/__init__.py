"""The Files API: uploads, listing, metadata, downloads and deletes, kept in the store
(mockserver/store/base.py ``FileRecords``), and the lookup Messages requests use to resolve
``file_id`` sources. docs/files.md."""
