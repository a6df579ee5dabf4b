"""ACM-Net reproduction suite: self-supervised visual place recognition (Musallam et al.)."""

__version__ = "0.1.0"
