"""Gymnasium environments over a world model's laws: `LawsEnv` (one episode) and `LawsVectorEnv`
(num_envs episodes stepped in one batched `Simulator.step` call, with autoreset).

    env = LawsEnv(model, starts, EpisodeSpec(max_steps=500), device="cpu", render_mode="rgb_array")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    envs = LawsVectorEnv(64, model, starts)             # next-step autoreset, as gymnasium's own
    obs, infos = envs.reset(seed=0)
    obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())

Observations (a `gymnasium.spaces.Dict`; every float box is unbounded, so every value is inside):
- "grid": Box(0, n_materials - 1, (H, W), int8): material index per cell (schema `materials`
  order), indexed [y, x];
- "player": Box float32 [P]: the player's simulated fields flattened in schema order (a position
  or direction as two numbers, a bool as 0/1, a counts attribute as one number per key, ints and
  floats as they are), named in `env.unwrapped.player_fields` ("pos.x", "pos.y", "facing.dx",
  "facing.dy", "inventory.wood", ...); `hidden=False` leaves out fields the schema marks hidden;
- one Box float32 [max_objects, 1 + F] per other kind: column 0 is 1 for a live object and 0 for
  an empty row, then the kind's F fields flattened as the player's (names, alive first, in
  `env.unwrapped.object_fields[kind]`). The rows hold the live objects nearest the player first
  (Manhattan distance between the first position attributes; slot order for kinds without one);
  objects beyond `max_objects` (default 32 per kind; an int or a {kind: int} dict) are left out;
- "globals": Box float32 [G]: the schema's bool/int/float globals, named in
  `env.unwrapped.global_fields`.

Reward, termination and truncation follow `laws.episodes.EpisodeSpec`. A reset draws a start
state uniformly from `starts` with the env's seeded numpy generator (`options={"start": i}` picks
start i) and reseeds the simulator's torch generator from it: the same seed gives the same episode.
`render()` (render_mode "rgb_array") draws the whole map: one colour per material index, objects as
inner squares coloured by kind, the player with a dark mark on its facing side.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from lawsmith.laws.episodes import EpisodeSpec, check_starts, sample_starts
from lawsmith.laws.errors import ModelError
from lawsmith.laws.simulator import SimStates, Simulator, check_size, resolve_device

PLAYER = "player"
DEFAULT_MAX_OBJECTS = 32
# Fixed palettes (RGB): materials by index, kinds by index (the player's colour first).
MATERIAL_COLORS = np.array([
    (66, 135, 245), (96, 168, 64), (128, 128, 128), (181, 148, 104), (230, 214, 144),
    (31, 92, 38), (232, 84, 26), (48, 48, 48), (199, 156, 132), (148, 235, 242),
    (156, 105, 54), (90, 90, 110), (170, 60, 160), (240, 240, 240), (120, 200, 200),
    (200, 200, 80)], dtype=np.uint8)
KIND_COLORS = np.array([
    (250, 250, 250), (140, 80, 40), (40, 170, 80), (220, 220, 220), (250, 200, 40),
    (60, 200, 60), (110, 70, 30), (220, 40, 40), (40, 40, 220), (230, 120, 200)], dtype=np.uint8)


# --- observations ------------------------------------------------------------------------------

def _columns(attrs: dict, schema: dict,
             hidden: bool) -> list[tuple[str, tuple[str, str | None], int | None]]:
    """(name, field key, component) per flattened number of a kind's attributes, schema order."""
    columns = []
    for attr, spec in attrs.items():
        if spec.get("hidden") and not hidden:
            continue
        kind = spec["type"]
        if kind == "pos":
            columns += [(f"{attr}.x", (attr, None), 0), (f"{attr}.y", (attr, None), 1)]
        elif kind == "dir":
            columns += [(f"{attr}.dx", (attr, None), 0), (f"{attr}.dy", (attr, None), 1)]
        elif kind == "counts":
            keys = schema["items"] if spec["keys"] == "items" else spec["keys"]
            columns += [(f"{attr}.{key}", (attr, key), None) for key in keys]
        elif kind in ("bool", "int", "float"):
            columns.append((attr, (attr, None), None))
        # cells-typed attributes are not simulated: left out
    return columns


def _first_of_type(attrs: dict, kind: str) -> str | None:
    return next((a for a, spec in attrs.items() if spec["type"] == kind), None)


def _box(shape) -> spaces.Box:
    return spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)


class Observer:
    """Observations of SimStates as numpy arrays (the layout of the module docstring)."""

    def __init__(self, schema: dict, max_objects: int | dict[str, int] = DEFAULT_MAX_OBJECTS,
                 hidden: bool = True):
        self.schema = schema
        kinds = schema["kinds"]
        if PLAYER not in kinds:
            raise ModelError("the schema has no player kind", field="kinds")
        self.kinds = [k for k in kinds if k != PLAYER]
        if isinstance(max_objects, dict):
            unknown = set(max_objects) - set(self.kinds)
            if unknown:
                raise ModelError(f"max_objects names unknown kinds: {', '.join(sorted(unknown))}",
                                 field="max_objects")
            self.max_objects = {k: max_objects.get(k, DEFAULT_MAX_OBJECTS) for k in self.kinds}
        else:
            self.max_objects = {k: max_objects for k in self.kinds}
        for kind, count in self.max_objects.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ModelError(f"max_objects must be a non-negative integer, got {count!r}",
                                 field=f"max_objects.{kind}")
        self.player_columns = _columns(kinds[PLAYER], schema, hidden)
        self.kind_columns = {k: _columns(kinds[k], schema, hidden) for k in self.kinds}
        self.global_fields = [name for name, spec in schema.get("globals", {}).items()
                              if spec["type"] in ("bool", "int", "float")]
        self.player_fields = [name for name, _, _ in self.player_columns]
        self.object_fields = {k: ["alive"] + [name for name, _, _ in self.kind_columns[k]]
                              for k in self.kinds}
        self.player_pos = _first_of_type(kinds[PLAYER], "pos")
        self.player_dir = _first_of_type(kinds[PLAYER], "dir")
        self.kind_pos = {k: _first_of_type(kinds[k], "pos") for k in self.kinds}
        height, width = schema["grid"]["height"], schema["grid"]["width"]
        materials = len(schema["materials"])
        entries = {"grid": spaces.Box(0, materials - 1, shape=(height, width), dtype=np.int8),
                   "player": _box((len(self.player_fields),))}
        for kind in self.kinds:
            entries[kind] = _box((self.max_objects[kind], len(self.object_fields[kind])))
        entries["globals"] = _box((len(self.global_fields),))
        self.space = spaces.Dict(entries)

    def observe(self, states: SimStates) -> dict[str, np.ndarray]:
        """The observations of all N states: each entry with a leading axis of N."""
        n = states.size
        tables = states.batch.tables
        result = {"grid": states.batch.grid.cpu().numpy()}
        player = tables[PLAYER]
        result["player"] = self._stack(player, self.player_columns, n)[:, 0].cpu().numpy()
        for kind in self.kinds:
            result[kind] = self._objects(states, kind).cpu().numpy()
        globals_ = [states.batch.globals[name].to(torch.float32) for name in self.global_fields]
        result["globals"] = (torch.stack(globals_, 1) if globals_ else
                             torch.zeros((n, 0), dtype=torch.float32, device=states.device)
                             ).cpu().numpy()
        return result

    @staticmethod
    def _stack(table, columns, n: int) -> torch.Tensor:
        """[N, M, F] float32 of the table's columns."""
        m = table.mask.shape[1]
        values = []
        for _, key, component in columns:
            column = table.fields[key]
            values.append((column[..., component] if component is not None else column)
                          .to(torch.float32))
        if not values:
            return torch.zeros((n, m, 0), dtype=torch.float32, device=table.mask.device)
        return torch.stack(values, -1)

    def _objects(self, states: SimStates, kind: str) -> torch.Tensor:
        n, limit = states.size, self.max_objects[kind]
        table = states.batch.tables[kind]
        mask = table.mask
        m = mask.shape[1]
        width = len(self.object_fields[kind])
        out = torch.zeros((n, limit, width), dtype=torch.float32, device=states.device)
        if m == 0 or limit == 0:
            return out
        values = torch.cat([mask.to(torch.float32)[..., None],
                            self._stack(table, self.kind_columns[kind], n)], -1)
        pos = self.kind_pos[kind]
        if pos is not None and self.player_pos is not None:
            here = states.player(self.player_pos)[:, None, :]
            distance = (table.fields[(pos, None)] - here).abs().sum(-1).to(torch.float64)
        else:
            distance = torch.zeros(mask.shape, dtype=torch.float64, device=states.device)
        distance = torch.where(mask, distance, torch.full_like(distance, float("inf")))
        order = torch.sort(distance, dim=1, stable=True).indices[:, :limit]
        alive = mask.gather(1, order)
        chosen = values.gather(1, order[..., None].expand(-1, -1, width))
        chosen = torch.where(alive[..., None], chosen, torch.zeros_like(chosen))
        out[:, :chosen.shape[1]] = chosen
        return out


def render_rgb(observer: Observer, states: SimStates, row: int = 0, cell: int = 8) -> np.ndarray:
    """An RGB uint8 image [H * cell, W * cell, 3] of state `row`: the whole map."""
    grid = states.batch.grid[row].cpu().numpy().astype(np.int64)
    height, width = grid.shape
    image = MATERIAL_COLORS[grid % len(MATERIAL_COLORS)]
    image = np.repeat(np.repeat(image, cell, 0), cell, 1)
    inset = max(1, cell // 4) if cell > 2 else 0
    kinds = list(observer.schema["kinds"])

    def square(x: int, y: int, color) -> None:
        if 0 <= x < width and 0 <= y < height:
            image[y * cell + inset:(y + 1) * cell - inset,
                  x * cell + inset:(x + 1) * cell - inset] = color

    for kind in observer.kinds:
        pos = observer.kind_pos[kind]
        if pos is None:
            continue
        table = states.batch.tables[kind]
        alive = table.mask[row].cpu().numpy()
        where = table.fields[(pos, None)][row].cpu().numpy()
        color = KIND_COLORS[kinds.index(kind) % len(KIND_COLORS)]
        for (x, y), live in zip(where.tolist(), alive.tolist()):
            if live:
                square(x, y, color)
    if observer.player_pos is not None:
        x, y = states.player(observer.player_pos)[row].tolist()
        square(x, y, KIND_COLORS[0])
        if observer.player_dir is not None and 0 <= x < width and 0 <= y < height:
            dx, dy = states.player(observer.player_dir)[row].tolist()
            mark = max(1, cell // 4)
            cx, cy = x * cell + cell // 2, y * cell + cell // 2
            mx, my = cx + dx * (cell // 2 - mark), cy + dy * (cell // 2 - mark)
            image[max(0, my - mark // 2 - 1):my + mark // 2 + 1,
                  max(0, mx - mark // 2 - 1):mx + mark // 2 + 1] = (20, 20, 20)
    return image


# --- what both environments share ---------------------------------------------------------------

class _Rollouts:
    """The simulator, the encoded start states, the episode rules and the observer."""

    def __init__(self, model, starts: Sequence[dict], episode: EpisodeSpec | None, device,
                 noise: bool, unexplained: bool, max_objects, hidden: bool):
        self.device = resolve_device(device)
        self.sim = Simulator(model, self.device, noise=noise, unexplained=unexplained)
        self.schema = model.schema
        self.starts_plain = check_starts(starts)
        self.starts = self.sim.encode(self.starts_plain)
        self.episodes = (episode or EpisodeSpec()).bind(self.schema)
        self.observer = Observer(self.schema, max_objects, hidden)
        self.actions = list(self.schema["actions"])
        self.generator = torch.Generator(device=self.device)

    def fresh(self, index: np.ndarray) -> SimStates:
        """Start states `index` (rows of `self.starts`)."""
        return self.starts.select(torch.as_tensor(index, dtype=torch.int64, device=self.device))

    def reset_rows(self, states: SimStates, rows: torch.Tensor, index: np.ndarray) -> SimStates:
        """`states` with rows `rows` set to start states `index` (every row descends from
        `self.starts`, so `replace` keeps their one engines list)."""
        return states.replace(rows, self.fresh(index))

    def reseed(self, rng: np.random.Generator) -> None:
        self.generator.manual_seed(int(rng.integers(0, 2 ** 62)))

    def actions_tensor(self, actions, n: int) -> torch.Tensor:
        array = np.asarray(actions)
        if array.dtype.kind not in "iu" or array.size != n:
            raise ModelError(f"expected {n} integer action(s) in 0..{len(self.actions) - 1}, "
                             f"got {array!r}", field="action")
        return self.sim.action_indices(torch.as_tensor(array.reshape(n), dtype=torch.int64), n)


class LawsEnv(gymnasium.Env):
    """One episode of a world model's laws as a gymnasium environment (module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, model, starts: Sequence[dict], episode: EpisodeSpec | None = None,
                 device: str | torch.device = "cpu", noise: bool = True,
                 unexplained: bool = False, render_mode: str | None = None,
                 max_objects: int | dict[str, int] = DEFAULT_MAX_OBJECTS, hidden: bool = True,
                 cell_pixels: int = 8):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ModelError(f"unknown render mode {render_mode!r} (rgb_array or None)",
                             field="render_mode")
        self._core = _Rollouts(model, starts, episode, device, noise, unexplained, max_objects,
                               hidden)
        self.render_mode = render_mode
        self.cell_pixels = cell_pixels
        observer = self._core.observer
        self.observation_space = observer.space
        self.action_space = spaces.Discrete(len(self._core.actions))
        self.actions = self._core.actions
        self.player_fields = observer.player_fields
        self.object_fields = observer.object_fields
        self.global_fields = observer.global_fields
        self.simulator = self._core.sim
        self.episodes = self._core.episodes
        self._states: SimStates | None = None
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        core = self._core
        index = (options or {}).get("start")
        if index is None:
            index = int(sample_starts(self.np_random, core.starts.size, 1)[0])
        elif not isinstance(index, int) or not 0 <= index < core.starts.size:
            raise ModelError(f"options['start'] must be in 0..{core.starts.size - 1}",
                             field="start")
        core.reseed(self.np_random)
        self._states = core.fresh(np.array([index]))
        self._steps = 0
        return self._observe(), {"start": index, "steps": 0}

    def step(self, action):
        if self._states is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        core = self._core
        before = self._states
        after = core.sim.step(before, core.actions_tensor(action, 1), core.generator)
        self._states = after
        self._steps += 1
        episodes = core.episodes
        reward = float(episodes.reward(before, after)[0])
        terminated = bool(episodes.terminated(before, after)[0])
        truncated = bool(episodes.truncated(torch.tensor([self._steps]))[0])
        return self._observe(), reward, terminated, truncated, {"steps": self._steps}

    def render(self):
        if self.render_mode != "rgb_array" or self._states is None:
            return None
        return render_rgb(self._core.observer, self._states, 0, self.cell_pixels)

    def state(self) -> dict:
        """The current state as a plain JSON state."""
        if self._states is None:
            raise gymnasium.error.ResetNeeded("call reset() first")
        return self._core.sim.decode(self._states)[0]

    def _observe(self) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self._core.observer.observe(self._states).items()}


class LawsVectorEnv(VectorEnv):
    """`num_envs` episodes stepped together in one batched simulator step per `step` call.

    Autoreset (`autoreset_mode`, `metadata["autoreset_mode"]`): NEXT_STEP (default, as gymnasium's
    own vector envs: the step after an episode ends resets that row, ignores its action and gives
    reward 0), SAME_STEP (a finished row is reset at once; `infos["final_obs"]` holds the batch's
    observations before the resets, valid where `infos["_final_obs"]`), or DISABLED (reset rows
    yourself with `reset(options={"reset_mask": mask})`)."""

    def __init__(self, num_envs: int, model, starts: Sequence[dict],
                 episode: EpisodeSpec | None = None, device: str | torch.device = "cpu",
                 noise: bool = True, unexplained: bool = False, render_mode: str | None = None,
                 max_objects: int | dict[str, int] = DEFAULT_MAX_OBJECTS, hidden: bool = True,
                 cell_pixels: int = 8,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ModelError(f"num_envs must be a positive integer, got {num_envs!r}",
                             field="num_envs")
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ModelError(f"unknown autoreset mode {autoreset_mode!r} (next_step, same_step "
                             "or disabled)", field="autoreset_mode") from None
        if render_mode is not None and render_mode != "rgb_array":
            raise ModelError(f"unknown render mode {render_mode!r} (rgb_array or None)",
                             field="render_mode")
        self._core = core = _Rollouts(model, starts, episode, device, noise, unexplained,
                                      max_objects, hidden)
        check_size(core.sim, num_envs, core.device)
        self.num_envs = num_envs
        self.metadata = {"render_modes": ["rgb_array"], "render_fps": 10,
                         "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.render_mode = render_mode
        self.cell_pixels = cell_pixels
        observer = core.observer
        self.single_observation_space = observer.space
        self.single_action_space = spaces.Discrete(len(core.actions))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.actions = core.actions
        self.player_fields = observer.player_fields
        self.object_fields = observer.object_fields
        self.global_fields = observer.global_fields
        self.simulator = core.sim
        self.episodes = core.episodes
        self._states: SimStates | None = None
        self._steps = torch.zeros(num_envs, dtype=torch.int64, device=core.device)
        self._autoreset = torch.zeros(num_envs, dtype=torch.bool, device=core.device)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        core, n = self._core, self.num_envs
        mask = (options or {}).get("reset_mask")
        if mask is None or self._states is None:
            index = sample_starts(self.np_random, core.starts.size, n)
            self._states = core.fresh(index)
            self._steps.zero_()
            self._autoreset.zero_()
        else:
            mask = np.asarray(mask)
            if mask.shape != (n,) or mask.dtype != np.bool_:
                raise ModelError(f"options['reset_mask'] must be a bool array of shape ({n},)",
                                 field="reset_mask")
            rows = torch.as_tensor(np.flatnonzero(mask), device=core.device)
            index = sample_starts(self.np_random, core.starts.size, len(rows))
            self._states = core.reset_rows(self._states, rows, index)
            self._steps[rows] = 0
            self._autoreset[rows] = False
        if seed is not None or mask is None:
            core.reseed(self.np_random)
        return core.observer.observe(self._states), {}

    def step(self, actions):
        if self._states is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        core, n = self._core, self.num_envs
        episodes = core.episodes
        if self.autoreset_mode == AutoresetMode.DISABLED and bool(self._autoreset.any()):
            raise gymnasium.error.ResetNeeded("autoreset is disabled: reset the finished rows "
                                              "with reset(options={'reset_mask': ...})")
        before = self._states
        after = core.sim.step(before, core.actions_tensor(actions, n), core.generator)
        # Copies: a callable rule may hand back a view of the states, and rows are zeroed below.
        reward = episodes.reward(before, after).clone()
        terminated = episodes.terminated(before, after).clone()
        self._steps += 1
        truncated = episodes.truncated(self._steps)
        infos: dict[str, Any] = {}
        if self.autoreset_mode == AutoresetMode.NEXT_STEP and bool(self._autoreset.any()):
            rows = self._autoreset.nonzero().flatten()
            after = core.reset_rows(after, rows, sample_starts(self.np_random, core.starts.size,
                                                               len(rows)))
            reward[rows], terminated[rows], truncated[rows] = 0.0, False, False
            self._steps[rows] = 0
        done = terminated | truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP and bool(done.any()):
            infos["final_obs"] = core.observer.observe(after)
            infos["_final_obs"] = done.cpu().numpy()
            rows = done.nonzero().flatten()
            after = core.reset_rows(after, rows, sample_starts(self.np_random, core.starts.size,
                                                               len(rows)))
            self._steps[rows] = 0
        self._autoreset = (done if self.autoreset_mode != AutoresetMode.SAME_STEP
                           else torch.zeros_like(done))
        self._states = after
        return (core.observer.observe(after), reward.cpu().numpy().astype(np.float64),
                terminated.cpu().numpy(), truncated.cpu().numpy(), infos)

    def render(self):
        if self.render_mode != "rgb_array" or self._states is None:
            return None
        return tuple(render_rgb(self._core.observer, self._states, row, self.cell_pixels)
                     for row in range(self.num_envs))

    def states(self) -> list[dict]:
        """The current states as plain JSON states."""
        if self._states is None:
            raise gymnasium.error.ResetNeeded("call reset() first")
        return self._core.sim.decode(self._states)
