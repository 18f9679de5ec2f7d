"""ningliang (凝练): condense enterprise technology demands into draft demand lists."""

__version__ = "0.1.0"
