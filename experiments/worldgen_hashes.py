"""Hash the worlds stock Crafter generates, to compare opensimplex versions (or any change).

Run it in an environment with `crafter` installed (it needs nothing of lawsmith):

    python experiments/worldgen_hashes.py --seeds 20 > hashes.json

`experiments/data/worldgen_hashes_opensimplex_0.4.5.1.json` was made with crafter 1.8.3 and opensimplex
0.4.5.1 (what crafter pulls by default); tests/test_worldgen.py checks that the pinned opensimplex 0.3
generates the same worlds. The hash covers the material map, the object map, every object's type,
position and health, and the world RNG's state after generation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from importlib.metadata import version

import crafter
import numpy as np


def world_hash(seed: int, area: int = 64) -> str:
    env = crafter.Env(area=(area, area), seed=seed)
    env.reset()
    world = env._world
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(world._mat_map).tobytes())
    digest.update(np.ascontiguousarray(world._obj_map).tobytes())
    objects = [(type(o).__name__, int(o.pos[0]), int(o.pos[1]), int(o.health))
               for o in world.objects]
    digest.update(repr(objects).encode())
    _, keys, pos, has_gauss, cached = world.random.get_state()
    digest.update(repr((keys.tolist(), int(pos), int(has_gauss), float(cached))).encode())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--area", type=int, default=64)
    args = parser.parse_args()
    start = time.perf_counter()
    hashes = {str(seed): world_hash(seed, args.area) for seed in range(args.seeds)}
    seconds = (time.perf_counter() - start) / args.seeds
    print(json.dumps({"crafter": version("crafter"), "opensimplex": version("opensimplex"),
                      "area": args.area, "seconds_per_reset": round(seconds, 3),
                      "hashes": hashes}, indent=1))


if __name__ == "__main__":
    main()
