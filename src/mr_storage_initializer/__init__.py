"""KServe custom storage initializer for ``model-registry://`` URIs."""

__version__ = "0.1.0"

__all__ = ["__version__"]
