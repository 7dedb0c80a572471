"""The families. Each module holds one family: its task type and its env class."""
