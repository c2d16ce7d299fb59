"""Every HAPPENING_* variable the settings read, for the tests that check the deployment files name them."""
from __future__ import annotations

import dataclasses

from happening_engine.config import Settings


def settings_env_map() -> dict[str, tuple[str, ...]]:
    """Every HAPPENING_* name Settings.from_env reads -> attribute path in Settings."""
    names: dict[str, tuple[str, ...]] = {}
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                names[f"HAPPENING_{f.name.upper()}_{sub.name.upper()}"] = (f.name, sub.name)
        else:
            names[f"HAPPENING_{f.name.upper()}"] = (f.name,)
    return names
