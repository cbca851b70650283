"""Refuge planning (`synth.refuge`) on small hand-made maps, and the explorer's caution with ground it
has not learned is ground."""

from lawsmith.envs.explorer import Explorer
from lawsmith.synth.refuge import Change, plan_refuge

MOVES = [("west", (-1, 0)), ("east", (1, 0)), ("north", (0, -1)), ("south", (0, 1))]
WALKABLE = frozenset({"g", "p"})   # grass, path
STONE = ("inventory", "stone")
DIG = Change("dig", "s", "p", ((STONE, 1),))         # stone -> path, one stone gained
BUILD = [Change("build", m, "s", ((STONE, -1),)) for m in ("g", "p")]


def _map(rows):
    cells = {(x, y): ch for y, row in enumerate(rows) for x, ch in enumerate(row)}
    return cells.get   # None outside: never seen


def _walk(rows, start, facing, plan):
    """Replay a plan on the map with the planner's own rules; the end position and map."""
    cells = {(x, y): ch for y, row in enumerate(rows) for x, ch in enumerate(row)}
    pos = start
    steps = dict(MOVES)
    for action, pos_after, facing_after in plan:
        if action in steps:
            facing = steps[action]
            target = (pos[0] + facing[0], pos[1] + facing[1])
            if cells.get(target) in WALKABLE:
                pos = target
        else:
            ahead = (pos[0] + facing[0], pos[1] + facing[1])
            change = next(c for c in [DIG] + BUILD
                          if c.action == action and c.before == cells[ahead])
            cells[ahead] = change.after
        assert (pos, facing) == (pos_after, facing_after)
    return pos, cells


def test_a_closed_pocket_with_a_wall_that_opens_is_a_refuge_already():
    rows = ["sssss", "sgggs", "sssss"]
    assert plan_refuge(_map(rows), (1, 1), (1, 0), MOVES, WALKABLE, set(), set(),
                       [DIG] + BUILD, {STONE: 0}) == []


def test_no_way_out_is_no_refuge():
    rows = ["wwwww", "wgggw", "wwwww"]   # water all round, nothing opens it
    assert plan_refuge(_map(rows), (1, 1), (1, 0), MOVES, WALKABLE, set(), set(),
                       BUILD, {STONE: 5}) is None


def test_digging_into_a_wall_and_closing_it_behind():
    rows = ["sssssssss"] * 4 + ["ggggggggg"] * 5
    plan = plan_refuge(_map(rows), (4, 5), (1, 0), MOVES, WALKABLE, set(), set(),
                       [DIG] + BUILD, {STONE: 0})
    assert plan is not None and 0 < len(plan) <= 12
    actions = [a for a, *_ in plan]
    assert actions[-1] == "build" and "dig" in actions   # the last wall is placed facing out
    pos, cells = _walk(rows, (4, 5), (1, 0), plan)
    # The ground the player can reach now is a closed pocket of at most 3 cells.
    region, frontier = {pos}, [pos]
    while frontier:
        x, y = frontier.pop()
        for _, (dx, dy) in MOVES:
            nxt = (x + dx, y + dy)
            assert cells.get(nxt) is not None
            if cells[nxt] in WALKABLE and nxt not in region:
                region.add(nxt)
                frontier.append(nxt)
    assert len(region) <= 3


def test_open_ground_without_enough_to_build_has_no_refuge():
    rows = ["ggggggg"] * 7
    assert plan_refuge(_map(rows), (3, 3), (1, 0), MOVES, WALKABLE, set(), set(),
                       [DIG] + BUILD, {STONE: 2}) is None


def test_things_that_stay_put_are_walls():
    rows = ["sssss", "sggge", "sssss"]   # 'e': never walkable, nothing opens it
    # Without the thing at (3, 1) the pocket has a wall that opens (stone): a refuge already.
    assert plan_refuge(_map(rows), (1, 1), (1, 0), MOVES, WALKABLE, set(), set(), [DIG],
                       {}) == []
    rows = ["sssss", "sgggg", "sssss"]   # open at the east end, unless something stays there
    assert plan_refuge(_map(rows), (1, 1), (1, 0), MOVES, WALKABLE, set(), set(), [DIG],
                       {}, depth=0) is None
    assert plan_refuge(_map(rows), (1, 1), (1, 0), MOVES, WALKABLE, {(4, 1)}, {(4, 1)}, [DIG],
                       {}) == []


def test_explorer_faces_unknown_ground_by_stepping_back_not_onto_it():
    explorer = Explorer(cautious=True)
    schema = {"materials": {"grass": "g", "lava": "l", "stone": "s"}, "walkable": ["grass"],
              "items": [], "actions": ["west", "east", "north", "south", "do"],
              "kinds": {"player": {}}}
    explorer.reset(0, schema)
    explorer._moves = MOVES
    state = {"grid": ["ggg", "ggl", "ggg"], "objects": []}
    # At (1, 1) beside lava at (2, 1), never seen to refuse a move: the move east might step
    # onto it, so the explorer steps back west (the way in again then faces it).
    assert explorer._approach(state, {}, (1, 1), (1, 0)) == "west"
    state_edge = {"grid": ["gl", "gg"], "objects": []}
    assert explorer._approach(state_edge, {}, (0, 0), (1, 0)) is None   # no room to step back
    explorer._refused.add("lava")   # once a move was seen refused by it, turning is safe
    assert explorer._approach(state, {}, (1, 1), (1, 0)) == "east"
    assert explorer._approach(state, {(2, 1): "cow"}, (1, 1), (1, 0)) == "east"   # a thing
    assert explorer._approach(state, {}, (1, 1), (0, 1)) == "south"   # onto walkable ground


def test_the_explorer_stands_only_on_ground_it_knows_is_ground():
    from lawsmith.envs.crafter_world import CrafterWorld
    from lawsmith.envs.recorder import run_episode
    from lawsmith.envs.state import find_player, schema_code_names
    world = CrafterWorld()
    names = schema_code_names(world.schema)
    walkable = set(world.schema["walkable"])
    stood = []

    def on_step(t, state, action, end):
        x, y = find_player(state)["pos"]
        stood.append(names[state["grid"][y][x]])

    explorer = Explorer(cautious=True)
    run_episode(world, explorer, 300, 0, on_step=on_step)
    assert set(stood) <= walkable
    assert not explorer._refused & walkable
