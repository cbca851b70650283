"""The curious explorer: same choices in a relabelled world, deterministic, an ordinary trace, and the
pieces that read its own model (ways to raise a count, counts that run down, what health depends on,
survival rollouts)."""

import pytest

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.recorder import record, run_episode
from lawsmith.envs.relabel import RelabelledWorld, unrelabel_state
from lawsmith.envs.state import find_player
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.envs.trace import open_trace
from lawsmith.laws.model import WorldModel
from lawsmith.laws.simulator import Simulator
from lawsmith.synth.curious import CuriousConfig, CuriousExplorer, law_ways, ticking

# Small learning rounds so that a short life has two of them.
QUICK = CuriousConfig(learn_at=(60, 150), learn_rounds=1, fit_steps=40, samples=2, horizon=2)

LAWS = """
law drink "drinking" when action == do and material(ahead) == water
  then player.inventory.drink += 1
law thirst "thirst" when player.thirst >= 20 then player.inventory.drink -= 1
law parched "no water hurts" when player.inventory.drink <= 0 then player.inventory.health -= 1
law lava "walking left burns" when action == move_left then player.inventory.health -= 5
"""


@pytest.fixture(scope="module")
def crafter():
    return CrafterWorld()


def _life(world, seed: int, steps: int):
    policy = CuriousExplorer(health=getattr(world, "health", None), config=QUICK)
    lines = []
    run_episode(world, policy, steps, seed,
                on_step=lambda t, state, action, end: lines.append((state, action, end)))
    return lines, policy


@pytest.mark.parametrize("make, steps", [(CrafterWorld, 200), (ToyWorld, 200)])
def test_curious_explorer_makes_the_same_choices_relabelled(make, steps, crafter):
    original = crafter if make is CrafterWorld else make()
    plain, policy = _life(original, 5, steps)
    relabelled_world = RelabelledWorld(original, 7)
    relabelled, twin = _life(relabelled_world, 5, steps)
    mapping = relabelled_world.mapping
    back = {new: old for old, new in mapping["actions"].items()}
    assert len(policy.rounds) == len(twin.rounds) >= 1   # the learner ran in the loop
    assert [r["laws"] for r in policy.rounds] == [r["laws"] for r in twin.rounds]
    assert len(plain) == len(relabelled)
    for t, ((state, action, end), (r_state, r_action, r_end)) in enumerate(zip(plain, relabelled)):
        assert (action, end) == (back.get(r_action), r_end), f"step {t}"
        assert unrelabel_state(r_state, mapping) == state, f"step {t}"


def test_curious_life_is_deterministic_and_an_ordinary_trace(tmp_path):
    paths = [tmp_path / f"{i}.jsonl" for i in range(2)]
    for path in paths:
        record(ToyWorld(), CuriousExplorer(config=QUICK), str(path), 160, seed=3)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    reader = open_trace(paths[0])
    assert reader.header["recorder"]["policy"] == "curious"
    assert len(reader.triples()) == 160   # learning rounds leave nothing in the file


def test_the_explorer_reads_its_model(crafter):
    model = WorldModel(LAWS, crafter.schema)
    assert law_ways(model, ("inventory", "drink"), crafter.schema) == [("do", "water")]
    assert law_ways(model, ("inventory", "food"), crafter.schema) == []
    held = [("inventory", item) for item in crafter.schema["items"]]
    assert ticking(model, held) == {("inventory", "drink"), ("inventory", "health")}
    policy = CuriousExplorer(health=crafter.health)
    policy.reset(0, crafter.schema)
    # health <- drink (read by `parched`) <- thirst (read by `thirst`) and the cell ahead (read by
    # `drink`: the player's pos and facing); the action is no field.
    assert policy._related_to_health(model) == {("inventory", "drink"), ("thirst", None),
                                                 ("pos", None), ("facing", None)}


def test_survival_rollouts_avoid_what_the_model_says_hurts(crafter):
    state = crafter.reset(2)
    policy = CuriousExplorer(health=crafter.health, config=CuriousConfig(samples=2, horizon=2))
    policy.reset(0, crafter.schema)
    policy._sim = Simulator(WorldModel(LAWS, crafter.schema))
    player = find_player(state)
    assert policy._look(state, player)["danger"]
    assert policy._survive(state, player, "move_left") != "move_left"
    assert policy._survive(state, player, "noop") == "noop"   # nothing beats it by the tolerance


def test_make_policy_points_to_the_curious_explorer():
    from lawsmith.envs.errors import TraceError
    from lawsmith.envs.worlds import make_policy
    with pytest.raises(TraceError, match="CuriousExplorer"):
        make_policy("curious")


def _ready(crafter):
    """A curious explorer that has lived 150 steps in Crafter (its four moves are learned)."""
    policy = CuriousExplorer(health=crafter.health, config=CuriousConfig(learn_at=()))
    run_episode(crafter, policy, 150, 1)
    return policy


def test_walks_plan_over_the_remembered_map(crafter):
    policy = _ready(crafter)
    moves = {step: action for action, step in policy.base._moves}
    assert len(moves) == 4
    # A corridor going right then down to water, remembered though out of view.
    policy._map = {(x, 0): "grass" for x in range(6)} | {(5, y): "sand" for y in range(1, 4)}
    policy._map[(5, 4)] = "water"
    policy._map[(0, 1)] = "tree"
    policy._kind_at = {}
    player = {"pos": [0, 0], "facing": [0, 1]}
    assert policy._walk_to(player, {"water"}) == moves[(1, 0)]
    assert policy._walk_to(player, {"tree"}) == moves[(0, 1)]   # facing it: a move turns
    assert policy._walk_to(player, {"lava"}) is None
    policy._kind_at[(3, 0)] = "zombie"                               # the corridor is blocked
    assert policy._walk_to(player, {"water"}) is None
    assert policy._walk_to_cell(player, (2, 0)) == moves[(1, 0)]


def test_attack_blame_and_incapacitation_come_from_experience(crafter):
    policy = _ready(crafter)
    policy._kills.clear()
    policy._faced_drops.clear()
    policy._fields = {"zombie": {"health": None, "cooldown": None}}
    for action in policy.base._others:   # a cooldown ticks whatever one does; health only to `do`
        policy._tried[action, "zombie"] += 2
        policy._faced_drops["zombie", "cooldown", action] += 2
    policy._faced_drops["zombie", "health", "do"] += 2
    assert policy._attack("zombie") == "do"
    policy._kills["cow", "sleep"] += 1   # a kill (of any kind) outweighs field drops
    assert policy._attack("zombie") == "sleep"
    # Hits beside a zombie 2 of 19 steps, beside a plant once in 29 (it stood by): blame the zombie.
    policy._hurt_by.clear()
    policy._beside.clear()
    policy._hurt_by.update({"zombie": 2, "plant": 1})
    policy._beside.update({"zombie": 19, "plant": 29})
    policy._hurt_steps = 2
    assert policy._harmful("zombie") and not policy._harmful("plant") and not policy._harmful("cow")
    policy._move_tries.update({("sleeping", True): 4, ("sleeping", False): 10})
    policy._moves_made.update({("sleeping", True): 0, ("sleeping", False): 9})
    assert policy._incapacitates("sleeping")
