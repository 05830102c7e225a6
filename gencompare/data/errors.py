"""The one error type callers catch when a dataset cannot be made available."""


class DatasetUnavailable(RuntimeError):
    """The dataset's files are not on disk and cannot be fetched (no credentials, no network, ...).

    The message always says what to do: which files to place in which folder, or how to set up
    credentials. It never contains a credential value.
    """
