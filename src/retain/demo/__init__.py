"""The demo shop: a seeded, realistic small shop written as ordinary input files."""

from retain.demo.shop import DEMO_FILES, DemoManifest, generate_demo_shop

__all__ = ["DEMO_FILES", "DemoManifest", "generate_demo_shop"]
