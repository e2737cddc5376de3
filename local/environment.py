"""Changes to os.environ that can be undone: the stack shares its process with its starter."""

import os


class EnvironmentChanges:
    """Sets variables in os.environ, remembering what was there to put it back."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self._previous: dict[str, str | None] = {}

    def set(self, name: str, value: str) -> None:
        self._previous.setdefault(name, os.environ.get(name))
        self.values[name] = value
        os.environ[name] = value

    def set_default(self, name: str, value: str) -> str:
        """Sets `name` unless the environment already has it; returns the value in force."""
        if name not in os.environ:
            self.set(name, value)
        return os.environ[name]

    def apply(self) -> None:
        """Sets again every variable set so far, after a restore()."""
        for name, value in list(self.values.items()):
            self.set(name, value)

    def restore(self) -> None:
        """Puts back what the environment held before the changes."""
        for name, previous in self._previous.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous
        self._previous.clear()
