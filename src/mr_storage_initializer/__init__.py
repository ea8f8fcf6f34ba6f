"""KServe custom storage initializer for ``model-registry://`` URIs."""

__version__ = "0.1.0"
USER_AGENT = f"mr-storage-initializer/{__version__}"  # what every request of ours says it is

__all__ = ["USER_AGENT", "__version__"]
