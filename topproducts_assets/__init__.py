"""The Dagster code location of topproducts; ``definitions.defs`` is the entry point."""
