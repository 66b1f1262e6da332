"""What the server keeps: the storage interface, its backends and the demo's own table."""
