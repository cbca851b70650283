"""lawsmith: learn world models as readable programs of laws (the CLI and the Python API).

The user's folders are this package's subpackages: `lawsmith.dsl` (the law language),
`lawsmith.laws` (the world model), `lawsmith.synth` (the learner), `lawsmith.envs` (worlds and
traces), `lawsmith.experiments` (benchmarks; the library never imports it).

Importing the package registers the gymnasium environment `lawsmith/Laws-v0` (see lawsmith.gym);
the registration is here, not in lawsmith.gym, so that importing a subpackage loads no module of
the CLI.
"""

ENV_ID = "lawsmith/Laws-v0"


def _register_gym() -> None:
    """Register `lawsmith/Laws-v0` with gymnasium (once; a no-op without gymnasium)."""
    try:
        import gymnasium
    except ImportError:   # pragma: no cover - gymnasium is a dependency
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="lawsmith.gym:make_env",
                           vector_entry_point="lawsmith.gym:make_vector_env")


_register_gym()
