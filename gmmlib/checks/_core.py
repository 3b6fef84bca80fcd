"""Work in progress."""
class SelfCheckError(AssertionError):
    pass
