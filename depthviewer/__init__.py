"""depthviewer: a workbench for inspecting stereo and monocular depth estimation."""

__version__ = "0.1.0"
