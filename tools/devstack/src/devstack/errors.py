"""The one exception family that devstack raises for failures a user can act on."""


class DevstackError(RuntimeError):
    """A part of the development stack is missing, misconfigured or failed to start."""


class StackError(DevstackError):
    """The stack is misconfigured, or a part of it failed to start."""
