"""The one error of the data pipeline."""


class DataError(Exception):
    """The event data is missing, incomplete or corrupt.

    The message names the offending file and is meant for the organiser, in English.
    """
