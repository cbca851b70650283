"""lawsmith: learn world models as readable programs of laws (the CLI and the Python API).

Importing the package registers the gymnasium environment `lawsmith/Laws-v0` (see lawsmith.gym).
"""

from lawsmith.gym import register as _register_gym

_register_gym()
