from mr_storage_initializer.cli import entry

entry()
