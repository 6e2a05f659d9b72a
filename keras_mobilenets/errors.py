"""The package's own exceptions."""


class WeightsError(ValueError):
    """A weights file that cannot be used for this model."""


class DownloadError(OSError):
    """A weights file is neither in the cache nor downloadable (offline?)."""

    def __init__(self, message, url, target):
        super().__init__(message)
        self.url = url
        self.target = target
